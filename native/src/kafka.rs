//! Kafka record batches read natively, for the replay's Kafka source.
//!
//! A replay reads a range of the statements topic once, record by record. Through
//! `AIOKafkaConsumer.getmany` every record becomes a Python `ConsumerRecord` on the way (made,
//! checked and dropped by the interpreter), which costs more than the broker's fetch itself. The
//! replay's source (`monitor/replay/sources.py`) fetches with aiokafka's client instead and hands
//! the record set of each partition to `read_batches`, which finds the records' offsets, keys and
//! values in place. The replay kernel folds them from there (`Kernel::feed` takes a `Records`);
//! a record is made into a Python object only when the runner folds it in Python.
//!
//! Only what this reads exactly as aiokafka does is read here: message format v2, uncompressed,
//! not transactional-aborted (the source checks the fetch response's aborted transactions).
//! Control batches are skipped, as aiokafka skips them. A legacy (v0/v1) or compressed batch
//! stops the reading at that batch; the source reads the rest of the response with aiokafka's
//! own record classes.
//!
//! The v2 batch layout (Kafka's `DefaultRecordBatch`): base offset i64, length i32, leader epoch
//! i32, magic i8, CRC u32, attributes i16, last offset delta i32, base timestamp i64, max
//! timestamp i64, producer id i64, producer epoch i16, base sequence i32, record count i32, then
//! the records: length, attributes i8, timestamp delta, offset delta, key, value and headers, the
//! lengths and deltas as zigzag varints.

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

/// Bytes of a batch before its records.
const HEADER: usize = 61;
/// Bytes of a batch before its length's end (the length counts what follows).
const LOG_OVERHEAD: usize = 12;
const COMPRESSION: i16 = 0x07;
const LOG_APPEND_TIME: i16 = 0x08;
const CONTROL: i16 = 0x20;

/// One record found in a record set: its offset, timestamp and where its key and value are.
#[derive(Clone, Copy)]
pub(crate) struct Entry {
    pub offset: i64,
    pub timestamp: i64,
    pub key: Option<(usize, usize)>,
    pub value: Option<(usize, usize)>,
}

/// The records of one partition's fetched record set, in offset order (`read_batches`).
#[pyclass(frozen, module = "monitor_native")]
pub struct Records {
    pub(crate) data: Py<PyBytes>,
    pub(crate) entries: Vec<Entry>,
}

impl Records {
    /// The bytes of `span` in the record set.
    pub(crate) fn slice(data: &[u8], span: Option<(usize, usize)>) -> Option<&[u8]> {
        span.map(|(at, len)| &data[at..at + len])
    }
}

#[pymethods]
impl Records {
    fn __len__(&self) -> usize {
        self.entries.len()
    }

    /// `(offset, key, value, timestamp_ms)` of record `i` (key and value are bytes or None).
    #[allow(clippy::type_complexity)]
    fn row<'py>(
        &self,
        py: Python<'py>,
        i: usize,
    ) -> PyResult<(i64, Option<Bound<'py, PyBytes>>, Option<Bound<'py, PyBytes>>, i64)> {
        let e = self.entries.get(i).ok_or_else(|| pyo3::exceptions::PyIndexError::new_err(i))?;
        let data = self.data.bind(py).as_bytes();
        let bytes = |span| Records::slice(data, span).map(|b| PyBytes::new(py, b));
        Ok((e.offset, bytes(e.key), bytes(e.value), e.timestamp))
    }
}

/// A reader of big-endian integers and zigzag varints over one batch.
struct Cursor<'a> {
    data: &'a [u8],
    at: usize,
}

type Bad = &'static str;

impl Cursor<'_> {
    fn take(&mut self, n: usize) -> Result<usize, Bad> {
        let at = self.at;
        if n > self.data.len() - at {
            return Err("a record runs past the end of its batch");
        }
        self.at += n;
        Ok(at)
    }

    fn byte(&mut self) -> Result<u8, Bad> {
        let at = self.take(1)?;
        Ok(self.data[at])
    }

    fn varlong(&mut self) -> Result<i64, Bad> {
        let mut raw: u64 = 0;
        for shift in (0..70).step_by(7) {
            let b = self.byte()?;
            raw |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok((raw >> 1) as i64 ^ -((raw & 1) as i64));
            }
        }
        Err("a varint is longer than ten bytes")
    }

    fn varint(&mut self) -> Result<i32, Bad> {
        i32::try_from(self.varlong()?).map_err(|_| "a varint is out of range")
    }

    /// A length-prefixed field (key, value, header): None when its length is -1.
    fn field(&mut self) -> Result<Option<(usize, usize)>, Bad> {
        match self.varint()? {
            -1 => Ok(None),
            n if n < 0 => Err("a negative field length"),
            n => Ok(Some((self.take(n as usize)?, n as usize))),
        }
    }
}

fn be<const N: usize>(data: &[u8], at: usize) -> [u8; N] {
    data[at..at + N].try_into().expect("in bounds")
}

/// What `read` found: the records, the offset to fetch next, and where it stopped before the end
/// of the data (at a batch it does not read, legacy or compressed, or at one past the end), if
/// it did.
pub(crate) struct Read {
    pub entries: Vec<Entry>,
    pub next_offset: i64,
    pub unread_at: Option<usize>,
}

/// The records with offsets in `[from, end)` of the record set `data`; see `read_batches`.
pub(crate) fn read(data: &[u8], from: i64, end: i64) -> Result<Read, String> {
    let mut out = Read { entries: Vec::new(), next_offset: from, unread_at: None };
    let mut at = 0;
    while data.len() - at >= LOG_OVERHEAD + 5 {
        let base = i64::from_be_bytes(be(data, at));
        let length = i32::from_be_bytes(be(data, at + 8));
        let size = LOG_OVERHEAD + usize::try_from(length).map_err(|_| format!("a batch at offset {base} has length {length}"))?;
        if size > data.len() - at {
            break; // the response's last batch, cut at the fetch size: fetched again next time
        }
        if base >= end {
            out.next_offset = out.next_offset.max(end); // nothing is left before the end
            out.unread_at = Some(at);
            break;
        }
        let magic = data[at + 16];
        if magic != 2 {
            out.unread_at = Some(at);
            break;
        }
        if size < HEADER {
            return Err(format!("the batch at offset {base} is shorter than its header"));
        }
        let batch = &data[at..at + size];
        let attributes = i16::from_be_bytes(be(batch, 21));
        if attributes & COMPRESSION != 0 {
            out.unread_at = Some(at);
            break;
        }
        let last = base + i64::from(i32::from_be_bytes(be(batch, 23)));
        if attributes & CONTROL == 0 {
            let base_ts = i64::from_be_bytes(be(batch, 27));
            let max_ts = i64::from_be_bytes(be(batch, 35));
            let count = i32::from_be_bytes(be(batch, 57));
            read_records(batch, at, base, count, base_ts, (attributes & LOG_APPEND_TIME != 0).then_some(max_ts), from, end, &mut out.entries)
                .map_err(|why| format!("the batch at offset {base}: {why}"))?;
        }
        out.next_offset = out.next_offset.max(last + 1);
        at += size;
    }
    Ok(out)
}

#[allow(clippy::too_many_arguments)]
fn read_records(
    batch: &[u8],
    batch_at: usize,
    base: i64,
    count: i32,
    base_ts: i64,
    append_ts: Option<i64>,
    from: i64,
    end: i64,
    entries: &mut Vec<Entry>,
) -> Result<(), Bad> {
    let mut cur = Cursor { data: batch, at: HEADER };
    for _ in 0..count {
        let length = cur.varint()?;
        let start = cur.at;
        let stop = start + usize::try_from(length).map_err(|_| "a negative record length")?;
        if stop > batch.len() {
            return Err("a record runs past the end of its batch");
        }
        let mut rec = Cursor { data: &batch[..stop], at: start };
        rec.byte()?; // attributes (unused in v2)
        let ts = rec.varlong()?;
        let offset = base + i64::from(rec.varint()?);
        let key = rec.field()?;
        let value = rec.field()?;
        for _ in 0..rec.varint()? {
            let name = rec.varint()?;
            rec.take(usize::try_from(name).map_err(|_| "a negative header name length")?)?;
            rec.field()?;
        }
        if rec.at != stop {
            return Err("a record's length does not match its fields");
        }
        cur.at = stop;
        if offset >= from && offset < end {
            let shift = |span: Option<(usize, usize)>| span.map(|(at, len)| (batch_at + at, len));
            entries.push(Entry { offset, timestamp: append_ts.unwrap_or(base_ts + ts), key: shift(key), value: shift(value) });
        }
    }
    Ok(())
}

/// `read_batches(data, fetch_offset, end) -> (records, next_offset, unread_at)`: the records of
/// the record set `data` (one partition of a fetch response) with offsets in `[fetch_offset,
/// end)`; the offset to fetch next (after the last whole batch read, `end` once a batch at or
/// past it is reached, `fetch_offset` if neither); and the byte position of the first batch not
/// read here (legacy format or compressed, or at or past `end`: the caller may read from there
/// with aiokafka), else None. A cut last batch is left for the next
/// fetch, as Kafka consumers do. A batch that does not parse raises `ValueError`.
#[pyfunction]
pub fn read_batches(py: Python<'_>, data: Bound<'_, PyBytes>, fetch_offset: i64, end: i64) -> PyResult<(Records, i64, Option<usize>)> {
    let found = {
        let bytes = data.as_bytes();
        py.detach(|| read(bytes, fetch_offset, end)).map_err(PyValueError::new_err)?
    };
    Ok((Records { data: data.unbind(), entries: found.entries }, found.next_offset, found.unread_at))
}

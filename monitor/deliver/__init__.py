"""Alert delivery: receivers config, wire formats, signed webhooks with retries, the dispatcher.

``config`` (receivers, secrets) -> ``formats`` (pure: alert -> request) -> ``sender`` (one
alert to one receiver: retries, breaker, rate limit) -> ``dispatcher`` (the alerts log to
every receiver, at least once). ``verify`` and ``receiver`` are the receiving side.
"""

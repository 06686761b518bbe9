"""Faust adapter: the app, its topics, the stance table and the agent, in small modules."""

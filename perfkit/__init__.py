"""The performance toolkit bench/ (the benchmark) and loadtest/ (the load test) share.

perfkit/stack.py        the stack on loopback: Cognito (emulator or fake), SQLite or PostgreSQL + Redis,
                        the Procfile's gunicorn; start, stop, clean up; a command's exit statuses
perfkit/fakecognito.py  the fast fake Cognito that replays the emulator's Describe answers
perfkit/client.py       the HTTP/1.1 keep-alive client on asyncio: one request, closed and open loop load
perfkit/forms.py        the sign-up form as a visitor fills it in, and its signed tokens
perfkit/stats.py        percentile and median, one definition (NaN for no samples)
"""

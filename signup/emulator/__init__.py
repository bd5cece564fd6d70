"""The local Cognito: moto's server plus the checks real Cognito makes on self-service sign-up.

server.py (WSGI app, threads, endpoints), operations.py (the three sign-up calls), rules.py
(Cognito's checks and messages), state.py (codes, outbox, quotas), backend.py (moto's objects),
demo.py (a demo pool). Run it with `python manage.py emulator`.
"""

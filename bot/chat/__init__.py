"""Inbound chat commands: one command core, thin platform adapters (issue 6).

    commands.py   the core: parse, check admins, run against the store (`Commands.handle`)
    views.py      pure: what results look like, as a platform-neutral `Reply`
    replies.py    the `Reply` model and its Slack mrkdwn / Telegram HTML rendering (escaping)
    slack.py      `/skywatch` over bolt: HTTP (signature-checked) or Socket Mode
    telegram.py   PTB Application: polling or webhook (secret-checked), each update once
    admins.py     who is an admin on each platform
    feed_add.py   `feeds add`: probe through the guarded Fetcher, store
    digest_now.py `digest`: the channel's digest so far
    serve.py      which front-ends `skywatch run` starts (from the env); one failing stops nothing

Kept apart from bot/notify (outbound, retried through the outbox): commands
must be acknowledged within seconds and answer the person who asked.
"""

"""Who may run admin commands (`feeds add`, `feeds remove`), on each platform.

* An allow-list (`SKYWATCH_ADMIN_USERS`, `Secrets.admin_users`) names users
  everywhere: a bare id (`U0123ABCD`, `123456789`) or one prefixed with its
  platform (`slack:U0123ABCD`, `telegram:123456789`).
* Slack: workspace admins and owners, from `users.info` (`is_admin`,
  `is_owner`, `is_primary_owner`), and only for the workspace the command came
  from: a user of another workspace in a shared channel is not our admin.
* Telegram: the chat's creator and administrators, from `getChatMember`; an
  anonymous admin posts as the group itself (`from.id` 1087968824, the
  GroupAnonymousBot, with `sender_chat.id == chat.id`), which only admins can
  do. In a private chat nobody is an admin by virtue of the chat: feeds are
  shared by every chat, so owning a chat with the bot is not enough.

Any error while asking the platform means "not an admin" (fail closed), logged.
https://docs.slack.dev/reference/methods/users.info
https://core.telegram.org/bots/api#getchatmember
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from typing import Any

log = logging.getLogger(__name__)

#: Telegram's GroupAnonymousBot: the sender of messages by anonymous group admins
ANONYMOUS_ADMIN_ID = 1087968824
#: Telegram's service account that forwards channel posts into linked groups
TELEGRAM_SERVICE_ID = 777000
TELEGRAM_ADMIN_STATUSES = frozenset({"creator", "administrator"})


def allow_listed(platform: str, user_id: str, admin_users: Collection[str]) -> bool:
    return user_id in admin_users or f"{platform}:{user_id}" in admin_users


async def slack_is_admin(
    client: Any, *, user_id: str, team_id: str | None, admin_users: Collection[str]
) -> bool:
    """True for allow-listed users and admins/owners of the workspace `team_id`."""
    if allow_listed("slack", user_id, admin_users):
        return True
    try:
        response = await client.users_info(user=user_id)
    except Exception as e:  # SlackApiError, network: fail closed
        log.warning("users.info failed; treating the user as no admin: %s", type(e).__name__)
        return False
    user = response.get("user") or {}
    if team_id is not None and user.get("team_id") not in (None, team_id):
        return False
    return bool(user.get("is_admin") or user.get("is_owner") or user.get("is_primary_owner"))


async def telegram_is_admin(
    bot: Any,
    *,
    chat_id: int,
    chat_type: str,
    user_id: int | None,
    sender_chat_id: int | None,
    admin_users: Collection[str],
) -> bool:
    """True for allow-listed users, anonymous admins of this chat, its creator and admins."""
    if user_id is None:
        return False
    if allow_listed("telegram", str(user_id), admin_users):
        return True
    if user_id == ANONYMOUS_ADMIN_ID:
        return sender_chat_id == chat_id
    if chat_type == "private":
        return False
    try:
        member = await bot.get_chat_member(chat_id=chat_id, user_id=user_id)
    except Exception as e:  # TelegramError, network: fail closed
        log.warning("getChatMember failed; treating the user as no admin: %s", type(e).__name__)
        return False
    return str(getattr(member, "status", "")) in TELEGRAM_ADMIN_STATUSES

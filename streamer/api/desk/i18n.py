"""The desk's words in English and Korean (both complete; a test checks the keys match)."""

from __future__ import annotations

LANGS = ("en", "ko")

MESSAGES: dict[str, dict[str, str]] = {
    "en": {
        "title": "Review desk",
        "sign_in": "Sign in",
        "sign_out": "Sign out",
        "token": "Admin token",
        "wrong_token": "Wrong admin token.",
        "no_token": "The admin API is disabled: STREAMER_ADMIN_TOKEN is not set.",
        "signed_out": "Signed out.",
        "expired": "Your desk session has expired or is invalid: sign in again.",
        "csrf": "The form's security token is missing, expired or wrong: nothing was changed.",
        "sessions": "Sessions",
        "broadcasts": "Broadcasts",
        "session": "Session",
        "broadcast": "Broadcast",
        "state": "State",
        "cut_source": "Cut",
        "confidence": "Confidence",
        "needs_review": "needs review",
        "start": "Start",
        "end": "End",
        "delay": "Delay",
        "version": "Version",
        "review": "Review",
        "last_segment": "Last segment",
        "segments": "Segments",
        "gaps": "Gaps",
        "healed": "Healed",
        "disk_free": "Disk free",
        "ago": "ago",
        "none": "none",
        "unavailable": "The orchestrator is not running: no status.",
        "language": "한국어",
        "skip": "Skip to content",
        "keys": "Keyboard",
    },
    "ko": {
        "title": "검토 데스크",
        "sign_in": "로그인",
        "sign_out": "로그아웃",
        "token": "관리자 토큰",
        "wrong_token": "관리자 토큰이 올바르지 않습니다.",
        "no_token": "관리자 API가 꺼져 있습니다: STREAMER_ADMIN_TOKEN이 설정되지 않았습니다.",
        "signed_out": "로그아웃했습니다.",
        "expired": "데스크 세션이 만료되었거나 유효하지 않습니다. 다시 로그인하세요.",
        "csrf": "양식의 보안 토큰이 없거나 만료되었거나 틀립니다. 아무것도 바뀌지 않았습니다.",
        "sessions": "세션",
        "broadcasts": "방송",
        "session": "세션",
        "broadcast": "방송",
        "state": "상태",
        "cut_source": "컷",
        "confidence": "신뢰도",
        "needs_review": "검토 필요",
        "start": "시작",
        "end": "끝",
        "delay": "지연",
        "version": "버전",
        "review": "검토",
        "last_segment": "마지막 세그먼트",
        "segments": "세그먼트",
        "gaps": "공백",
        "healed": "복구",
        "disk_free": "남은 디스크",
        "ago": "전",
        "none": "없음",
        "unavailable": "오케스트레이터가 실행 중이 아닙니다: 상태가 없습니다.",
        "language": "English",
        "skip": "본문으로 건너뛰기",
        "keys": "키보드",
    },
}


def pick(query: str | None, cookie: str | None, accept: str | None) -> str:
    """The language: ``?lang=``, then the desk's cookie, then Accept-Language, then English."""
    for given in (query, cookie):
        if given in LANGS:
            return str(given)
    for part in (accept or "").split(","):
        code = part.split(";")[0].strip().lower()[:2]
        if code in LANGS:
            return code
    return "en"

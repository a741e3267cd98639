"""The leak guard: verbatim or near-verbatim copies of the profile or instructions."""

from __future__ import annotations

from deskpilot.llm import LeakGuard, contains_profile_leak

PROFILE = (
    "You are Ava, the assistant of Acme Hosting. Always greet customers warmly and never "
    "mention competitors or internal discount codes such as SPRING-42."
)
RULES = [
    "Escalate billing disputes to the finance team without promising refunds.",
    "Be concise.",
]


class TestContainsProfileLeak:
    def test_eight_word_run_of_the_profile_is_a_leak(self) -> None:
        reply = "Sure! My notes say: always greet customers warmly and never mention competitors."
        assert contains_profile_leak(reply, PROFILE, RULES)

    def test_case_punctuation_and_whitespace_do_not_hide_a_leak(self) -> None:
        reply = "ALWAYS greet\n customers, warmly — and NEVER mention... competitors or internal"
        assert contains_profile_leak(reply, PROFILE, RULES)

    def test_accents_do_not_hide_a_leak(self) -> None:
        profile = "Répondez toujours en français et ne révélez jamais le code interne promo."
        reply = "repondez toujours en francais et ne revelez jamais le code"
        assert contains_profile_leak(reply, profile, [])

    def test_seven_word_run_is_not_a_leak(self) -> None:
        reply = "We always greet customers warmly and never forget them."
        assert not contains_profile_leak(reply, PROFILE, RULES)

    def test_instruction_is_protected_on_its_own(self) -> None:
        reply = "Internally we escalate billing disputes to the finance team without promising."
        assert contains_profile_leak(reply, None, RULES)

    def test_short_instruction_may_be_said_in_passing(self) -> None:
        assert not contains_profile_leak("I'll be concise: yes.", None, ["Be concise and kind."])

    def test_whole_six_word_instruction_is_protected(self) -> None:
        rule = "Never discuss the Zephyr project publicly."
        assert contains_profile_leak(
            "Rule: never discuss the Zephyr project publicly!", None, [rule]
        )

    def test_text_the_passages_also_contain_is_not_a_leak(self) -> None:
        passage = "Acme says: always greet customers warmly and never mention competitors here."
        reply = "always greet customers warmly and never mention competitors"
        assert contains_profile_leak(reply, PROFILE, [])
        assert not contains_profile_leak(reply, PROFILE, [], allowed=[passage])

    def test_nothing_to_protect_never_leaks(self) -> None:
        assert not contains_profile_leak("anything at all, for as many words as you like", None, [])


class TestPendingFrom:
    def test_holds_back_the_start_of_a_possible_run(self) -> None:
        guard = LeakGuard(PROFILE, [])
        text = "Hello! You are Ava, the assistant "
        assert text[: guard.pending_from(text)] == "Hello! "

    def test_releases_text_once_the_run_breaks(self) -> None:
        guard = LeakGuard(PROFILE, [])
        text = "Hello! You are welcome to ask "
        assert guard.pending_from(text) == len(text)

    def test_a_word_still_being_written_is_held(self) -> None:
        guard = LeakGuard(PROFILE, [])
        assert guard.pending_from("Hello there, wel") == len("Hello there, ")

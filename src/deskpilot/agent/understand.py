"""Understand one visitor message: its language, what it asks of us (a human, small talk),
the mood and intent behind it, and the question it stands for once the conversation is read."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import cache
from typing import Any, Literal

from deskpilot.llm import ConversationTurn

SmallTalk = Literal["greeting", "thanks", "goodbye"]

# Languages a support widget meets; regional languages the detector also knows (Aragonese,
# Nigerian Pidgin…) would otherwise win short Spanish or English messages.
DETECTED_LANGUAGES = (
    "en",
    "es",
    "fr",
    "de",
    "it",
    "pt",
    "nl",
    "pl",
    "sv",
    "da",
    "no",
    "fi",
    "cs",
    "sk",
    "hu",
    "ro",
    "tr",
    "ru",
    "uk",
    "el",
    "bg",
    "hr",
    "sl",
    "et",
    "lv",
    "lt",
    "ca",
    "ar",
    "he",
    "fa",
    "hi",
    "bn",
    "ur",
    "id",
    "ms",
    "vi",
    "th",
    "ja",
    "ko",
    "zh",
)
_MIN_CONFIDENCE = 0.5
_MIN_LETTERS = 12


@dataclass(frozen=True, slots=True)
class Understanding:
    # ISO 639-1, or None when the message is too short to tell (and no fallback was given).
    language: str | None
    wants_human: bool
    frustrated: bool
    small_talk: SmallTalk | None
    injection: bool
    # A request to harm others, or to act on the contact's own account (needs a person).
    harmful: bool
    wants_action: bool
    # The message as a self-contained question: follow-ups carry their topic along.
    standalone_question: str


def understand(
    message: str,
    history: list[ConversationTurn],
    *,
    default_language: str | None = None,
) -> Understanding:
    """Read `message` in the light of `history` (oldest first, the message itself excluded).

    `default_language` (the org's or the contact's known language) is used when the message
    is too short or too mixed for the detector to be sure.
    """
    text = message.strip()
    small_talk = detect_small_talk(text)
    return Understanding(
        language=detect_language(text) or _history_language(history) or default_language,
        wants_human=wants_human(text),
        frustrated=is_frustrated(text, history),
        small_talk=small_talk,
        injection=is_injection(text),
        harmful=is_harmful(text),
        wants_action=asks_for_action(text),
        standalone_question=text if small_talk else standalone_question(text, history),
    )


# --- language -------------------------------------------------------------------------------

_SHORT_WORDS = {
    "hola": "es",
    "gracias": "es",
    "adiós": "es",
    "adios": "es",
    "buenos": "es",
    "buenas": "es",
    "bonjour": "fr",
    "bonsoir": "fr",
    "merci": "fr",
    "salut": "fr",
    "hallo": "de",
    "danke": "de",
    "tschüss": "de",
    "servus": "de",
    "moin": "de",
    "guten": "de",
    "hello": "en",
    "thanks": "en",
    "thank": "en",
    "hi": "en",
    "hey": "en",
    "bye": "en",
}


@cache
def _identifier() -> Any:
    # Loading the model takes about a second: once per process, on first use (or warm_up).
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    identifier.set_languages(DETECTED_LANGUAGES)
    return identifier


def warm_up() -> None:
    """Load the language model now rather than on the first message."""
    _identifier()


def detect_language(text: str) -> str | None:
    """ISO 639-1 code of `text`, or None when it is too short or the detector is unsure."""
    letters = sum(ch.isalpha() for ch in text)
    if letters < _MIN_LETTERS:
        words = re.findall(r"[^\W\d_]+", text.lower())
        known = {_SHORT_WORDS[w] for w in words if w in _SHORT_WORDS}
        return known.pop() if len(known) == 1 else None
    language, confidence = _identifier().classify(text)
    return str(language) if confidence >= _MIN_CONFIDENCE else None


def _history_language(history: list[ConversationTurn]) -> str | None:
    # A short "ok" or "gracias" keeps the language the contact has been writing in.
    for turn in reversed(history[-6:]):
        if turn.role == "contact":
            language = detect_language(turn.text)
            if language:
                return language
    return None


# --- normalisation --------------------------------------------------------------------------


def _fold(text: str) -> str:
    """Lower case without accents, apostrophes unified, so patterns stay ASCII."""
    decomposed = unicodedata.normalize("NFKD", text.casefold().replace("\u2019", "'"))
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9']+|[^\sa-z0-9']", _fold(text))


# --- asking for a human ---------------------------------------------------------------------

_PERSON = (
    r"human|humans|humain|humano|mensch|menschen|person|persons|people|personne|persona|"
    r"someone|somebody|anyone|anybody|quelqu'un|alguien|jemand|jemandem|jemanden|"
    r"agent|agents|agente|representative|rep|representant|representante|operator|operateur|"
    r"operador|staff|employee|empleado|mitarbeiter|mitarbeiterin|manager|supervisor|"
    r"conseiller|conseillere|asesor|asesora|berater|beraterin|team|equipo|equipe|"
    r"support|soporte|kundendienst|kundenservice|service"
)
_CONTACT = (
    r"talk|talking|speak|speaking|chat|connect|transfer|escalate|reach|contact|call|"
    r"hablar|contactar|comunicarme|comunicar|pasame|pasar|llamar|llamame|atender|atienda|"
    r"parler|discuter|contacter|joindre|transferer|appeler|rappeler|mettre|"
    r"sprechen|reden|verbinden|kontaktieren|erreichen|chatten|weiterleiten|anrufen|"
    r"zuruckrufen|zuruckruft"
)
_PERSON_RE = re.compile(rf"^(?:{_PERSON})$")
_CONTACT_RE = re.compile(rf"^(?:{_CONTACT})$")
# Words that turn "person"/"agent"/"human" into a thing in the visitor's own product.
_THING_AFTER = re.compile(
    r"^(?:-|model|models|table|field|fields|class|object|objects|record|records|entity|"
    r"instance|list|name|names|id|ids|api|string|data|readable|type|types|header|"
    r"modelo|tabla|campo|classe|modele|champ|tabelle|feld|klasse)$"
)
_THING_BEFORE = re.compile(r"^(?:user|user-|browser|http|the|my|our|this|a)$")
# "support" and "service" only name people next to "team", "customer", "human"…
_WEAK_PERSON = {"support", "service", "soporte", "team", "equipo", "equipe"}
_STRONG_ALONE = re.compile(
    r"^(?:(?:a|an|the|real|live|actual|un|una|une|ein|einen|einem)\s+)*"
    r"(?:human|humain|humano|mensch|person|persona|agent|agente|representative|operator|"
    r"real person|live agent|live person|customer service|service client|kundendienst|"
    r"human being|someone real|real human)"
    r"(?:\s+(?:please|pls|plz|now|por favor|s'il vous plait|svp|bitte))*$"
)
_HUMAN_PHRASES = re.compile(
    r"\b(?:call me back|ring me back|have someone (?:\w+ ){0,4}call|"
    r"(?:not|no|don't want|dont want|no more|stop) (?:talking to |a |the |this )?"
    r"(?:bot|robot|machine)|"
    r"(?:are|is) (?:there|you) (?:a )?(?:real|human|actual) (?:person|human|being|one)|"
    r"is (?:there )?(?:a|any) (?:real )?(?:person|human|agent) (?:there|available|i can)|"
    r"with a (?:real|live|actual) (?:person|human|agent)|"
    r"(?:con|a) (?:una|un) (?:persona|humano|agente)(?: real| de verdad)?\b|"
    r"(?:a|avec) (?:un|une) (?:humain|personne reelle|vraie personne|conseiller|agent)|"
    r"mit (?:einem|einer) (?:menschen|mensch|mitarbeiter|mitarbeiterin|berater|person|agenten))"
)


def wants_human(text: str) -> bool:
    """An explicit request for a person: "human please", "can I speak to someone real",
    "quiero hablar con una persona"… but not "a human-readable name" or "my Person model"."""
    folded = _fold(text).strip()
    bare = re.sub(r"[^\w\s']+", " ", folded)
    bare = re.sub(r"\s+", " ", bare).strip()
    if _STRONG_ALONE.match(bare):
        return True
    if re.search(r"\w-(?:readable|like|centred|centered|friendly)\b", folded):
        folded = re.sub(r"\b\w+-(?:readable|like|centred|centered|friendly)\b", " ", folded)
    if _HUMAN_PHRASES.search(folded) and not _thing_context(folded):
        return True
    words = _words(folded)
    for index, word in enumerate(words):
        if not _CONTACT_RE.match(word):
            continue
        window = words[max(0, index - 7) : index + 8]
        for offset, candidate in enumerate(window):
            if not _PERSON_RE.match(candidate):
                continue
            position = max(0, index - 7) + offset
            after = words[position + 1] if position + 1 < len(words) else ""
            before = words[position - 1] if position > 0 else ""
            if _THING_AFTER.match(after) or before in {"user", "browser", "http"}:
                continue
            if candidate in _WEAK_PERSON and not _human_team(words, position):
                continue
            return True
    return False


def _human_team(words: list[str], position: int) -> bool:
    near = set(words[max(0, position - 2) : position + 3])
    return bool(
        near
        & {
            "customer",
            "sales",
            "human",
            "real",
            "live",
            "client",
            "cliente",
            "clientes",
            "ventas",
            "ventes",
            "vertrieb",
            "kunden",
            "your",
            "tu",
            "su",
            "votre",
            "ihr",
            "ihrem",
            "eurem",
            "al",
        }
    )


def _thing_context(folded: str) -> bool:
    return bool(re.search(r"\b(?:person|human|agent) (?:model|table|field|class|object)\b", folded))


# --- frustration ----------------------------------------------------------------------------

_FRUSTRATION = re.compile(
    r"\b(?:useless|worst|terrible|horrible|awful|ridiculous|pathetic|garbage|rubbish|"
    r"stupid|idiot|idiotic|dumb|sucks?|crap|crappy|shit|shitty|fuck\w*|wtf|damn|"
    r"frustrat\w*|annoy\w*|angry|furious|fed up|sick of|waste of (?:my )?time|"
    r"not help(?:ing|ful)|unhelpful|doesn'?t help|does not help|isn'?t helping|"
    r"makes no sense|are you (?:even )?(?:listening|serious|kidding)|"
    r"i (?:already|just) (?:told|said|asked|explained)|for the (?:third|3rd|fourth|\w+th) time|"
    r"still (?:not|doesn'?t|does not|isn'?t|won'?t) work\w*|"
    r"(?:doesn'?t|does not|don'?t|do not) understand (?:me|anything|what i)|"
    r"inutil|pesimo|no sirve|no me (?:ayudas|ayuda|entiendes)|harto|harta|estupido|mierda|"
    r"que desastre|ya te (?:lo )?dije|"
    r"nul|nulle|n'importe quoi|sert a rien|j'en ai marre|marre|enerve|putain|merde|"
    r"je (?:te )?l'ai deja dit|ca ne marche (?:toujours )?pas|"
    r"nutzlos|sinnlos|schrecklich|mist|scheisse|blod|bloed|nervt|nervig|"
    r"hilft (?:mir )?nicht|bringt nichts|funktioniert (?:immer )?noch nicht|"
    r"hab(?:e)? (?:ich )?(?:doch )?schon gesagt)\b"
)


def is_frustrated(text: str, history: list[ConversationTurn]) -> bool:
    """Anger or exasperation: strong words, shouting, "!!!", or asking the same thing again."""
    folded = _fold(text)
    if _FRUSTRATION.search(folded):
        return True
    if re.search(r"[!?]*![!?]*!|\?!|!\?", text):
        return True
    shouted = [
        w
        for w in re.findall(r"[^\W\d_]{3,}", text)
        if w.isupper() and w not in {"API", "URL", "CSS", "HTML", "SQL", "PDF", "FAQ"}
    ]
    # Two shouted words in a sentence, not one acronym or a SETTING_NAME (underscores split).
    if len(shouted) >= 2 and not re.search(r"[A-Z]+_[A-Z]", text):
        return True
    return _repeats_question(folded, history)


def _repeats_question(folded: str, history: list[ConversationTurn]) -> bool:
    words = set(re.findall(r"\w{3,}", folded))
    if len(words) < 3:
        return False
    asked = [turn for turn in history[-8:] if turn.role == "contact"]
    for turn in asked:
        previous = set(re.findall(r"\w{3,}", _fold(turn.text)))
        if previous and len(words & previous) / len(words | previous) >= 0.8:
            return True
    return False


# --- small talk -----------------------------------------------------------------------------

_SMALL_TALK: dict[SmallTalk, tuple[str, ...]] = {
    "goodbye": (
        "goodbye",
        "good bye",
        "bye bye",
        "bye",
        "see you later",
        "see you soon",
        "see you",
        "see ya",
        "have a nice day",
        "have a good day",
        "have a great day",
        "good night",
        "take care",
        "adios",
        "hasta luego",
        "hasta pronto",
        "hasta manana",
        "chao",
        "au revoir",
        "a bientot",
        "bonne journee",
        "bonne soiree",
        "tschuss",
        "auf wiedersehen",
        "bis bald",
        "bis dann",
        "schonen tag",
        "ciao",
    ),
    "thanks": (
        "thank you very much",
        "thank you so much",
        "thanks a lot",
        "thanks so much",
        "many thanks",
        "thank you",
        "thanks",
        "thx",
        "thanx",
        "ty",
        "cheers",
        "much appreciated",
        "appreciate it",
        "muchas gracias",
        "mil gracias",
        "gracias",
        "merci beaucoup",
        "merci bien",
        "merci",
        "vielen dank",
        "danke schon",
        "dankeschon",
        "danke sehr",
        "danke",
    ),
    "greeting": (
        "good morning",
        "good afternoon",
        "good evening",
        "hello there",
        "hi there",
        "hey there",
        "hello",
        "hiya",
        "hi",
        "hey",
        "howdy",
        "greetings",
        "yo",
        "how are you",
        "how are you doing",
        "how's it going",
        "buenos dias",
        "buenas tardes",
        "buenas noches",
        "buenas",
        "hola",
        "que tal",
        "bonjour",
        "bonsoir",
        "salut",
        "coucou",
        "ca va",
        "guten morgen",
        "guten tag",
        "guten abend",
        "gruss gott",
        "gruezi",
        "hallo",
        "servus",
        "moin",
        "wie geht's",
        "wie geht es dir",
    ),
}
_FILLER = {
    "ok",
    "okay",
    "great",
    "perfect",
    "awesome",
    "cool",
    "nice",
    "super",
    "again",
    "guys",
    "team",
    "all",
    "everyone",
    "folks",
    "so",
    "much",
    "very",
    "a",
    "lot",
    "for",
    "your",
    "the",
    "help",
    "and",
    "oh",
    "well",
    "y",
    "et",
    "und",
    "por",
    "tu",
    "ayuda",
    "pour",
    "votre",
    "aide",
    "fur",
    "die",
    "hilfe",
    "bot",
    "there",
    "you",
    "too",
    "to",
    "then",
    "now",
    "sir",
    "madam",
}
_PHRASES = sorted(
    ((phrase, kind) for kind, phrases in _SMALL_TALK.items() for phrase in phrases),
    key=lambda item: -len(item[0]),
)


def detect_small_talk(text: str) -> SmallTalk | None:
    """Greeting, thanks or goodbye, when the message is nothing but that."""
    folded = _fold(text)
    folded = re.sub(r"[^\w\s']+", " ", folded)
    rest = " " + " ".join(folded.split()) + " "
    found: set[SmallTalk] = set()
    for phrase, kind in _PHRASES:
        needle = f" {phrase} "
        while needle in rest:
            rest = rest.replace(needle, " ", 1)
            found.add(kind)
    if not found:
        return None
    leftover = [w for w in rest.split() if w not in _FILLER]
    if leftover:
        return None
    for kind in ("goodbye", "thanks", "greeting"):
        if kind in found:
            return kind
    return None


# --- prompt injection -----------------------------------------------------------------------

_INJECTION = re.compile(
    r"(?:ignore|disregard|forget|override|bypass|skip)\s+(?:all\s+|any\s+|the\s+|your\s+|my\s+)*"
    r"(?:previous\s+|prior\s+|above\s+|earlier\s+|preceding\s+|initial\s+|original\s+|system\s+)*"
    r"(?:instructions?|rules|prompts?|directions|guidelines|directives|context|programming)"
    r"|(?:print|show|reveal|display|output|repeat|tell me|give me|leak|dump|share|"
    r"write out|list|what (?:is|are|were))\s+(?:me\s+)?(?:\w+\s+){0,3}?"
    r"(?:system\s+prompt|(?:hidden|initial|original|developer|secret|internal|system)\s+"
    r"(?:instructions?|prompt|rules|message)|your\s+(?:instructions?|prompt|rules|"
    r"guidelines|configuration|config)|full\s+configuration|api\s+keys?|credentials)"
    r"|\byou\s+are\s+now\b|\bact\s+as\s+(?:an?\s+)?(?:unrestricted|unfiltered|evil|dan)\b"
    r"|\bpretend\s+(?:to\s+be|you\s+are)\b|\broleplay\s+as\b|\bdan\b|\bjailbreak"
    r"|\b(?:developer|debug|god)\s+mode\b|\b(?:no|without)\s+(?:any\s+)?(?:restrictions|limits|filters|rules)\b"
    r"|repeat\s+(?:everything|all|the\s+text|the\s+words)\s+(?:above|before|prior)"
    r"|everything\s+above\s+this"
    r"|^\s*(?:system|assistant|developer)\s*:|<\|(?:system|im_start)\|>|\[/?inst\]|<!--"
    r"|\b(?:admin|administrator|root|database|db)\s+password\b"
    r"|ignora\s+(?:todas\s+)?(?:las\s+)?instrucciones|olvida\s+(?:tus|las)\s+instrucciones"
    r"|(?:muestra|revela|dime)\s+(?:tu|tus|el|las)\s+(?:prompt|instrucciones)|ahora\s+eres\b"
    r"|ignore[sz]?\s+(?:toutes\s+)?(?:les\s+|tes\s+|vos\s+)?instructions"
    r"|oublie[sz]?\s+(?:tes|vos|les)\s+instructions"
    r"|(?:montre|revele|affiche|donne)[sz]?(?:-moi)?\s+(?:ton|tes|le|les|votre|vos)\s+"
    r"(?:prompt|instructions)|tu\s+es\s+maintenant\b"
    r"|ignorier\w*\s+(?:alle\s+)?(?:vorherigen\s+|bisherigen\s+|deine\s+)?anweisungen"
    r"|vergiss\s+(?:deine|alle)\s+anweisungen"
    r"|(?:zeig|verrate|nenne)\w*\s+(?:mir\s+)?(?:deinen|deine|den|die)\s+"
    r"(?:system\s*prompt|systemprompt|prompt|anweisungen)|du\s+bist\s+(?:jetzt|nun)\b",
    re.MULTILINE,
)


def is_injection(text: str) -> bool:
    """A prompt-injection or secret-extraction attempt ("ignore previous instructions",
    "print your system prompt", "you are now DAN"), in en/es/fr/de."""
    return bool(_INJECTION.search(_fold(text)))


# --- harmful requests -------------------------------------------------------------------------

# Asking for an attack on others: exploit code, malware, break-ins, theft of credentials.
# Questions about defending against attacks ("how does Django protect against CSRF") are
# ordinary support questions and do not match.
_HARMFUL = re.compile(
    r"\b(?:write|give|send|make|build|create|code|craft|generate|need|want|show)\b[^.?!]{0,40}?"
    r"\b(?:exploits?|malware|ransomware|keyloggers?|botnets?|rootkits?|trojans?|viruses|"
    r"phishing\s+(?:page|site|email|kit)s?|payloads?\s+(?:to|for|that))\b(?!-)"
    r"|\bworking\s+exploit|\bexploit\s+(?:for|against)\b"
    r"|\b(?:hack|break|get)\s+into\s+(?:someone|somebody|other|another|their|his|her|"
    r"people|accounts?|sites?|websites?|servers?|a\s+(?:site|server|website|account))"
    r"|\bhit\s+(?:the\s+)?(?:sites?|servers?|targets?)\s+that\b"
    r"|\b(?:sites?|servers?)\s+that\s+(?:haven'?t|have\s+not|aren'?t|are\s+not)\s+"
    r"(?:been\s+)?(?:patched|updated)"
    r"|\bddos\b|\bdenial\s+of\s+service\s+attack\s+(?:on|against)\b"
    r"|\bsteal\w*\s+(?:\w+\s+){0,2}(?:passwords?|credentials|cookies|sessions?|data|"
    r"credit\s+cards?|identit(?:y|ies))"
    r"|\bcrack\w*\s+(?:\w+\s+){0,2}(?:passwords?|hashes)\b"
    r"|\bbypass\w*\s+(?:the\s+|their\s+|a\s+)?(?:login|authentication|paywall|licen[cs]e)"
    r"\s+(?:of|on|for)\s+(?:someone|other|another|their|a\s+site)",
)


def is_harmful(text: str) -> bool:
    """A request to harm others (exploits against unpatched sites, malware, credential theft):
    declined whatever the knowledge says."""
    return bool(_HARMFUL.search(_fold(text)))


# --- requests to act on an account --------------------------------------------------------------

# "can you reset my password", "please cancel my subscription": the contact wants something
# done on its account or order, which needs a person (the AI has no tools to act).
_ACTION = re.compile(
    r"\b(?:can|could|would|will)\s+(?:you|u|someone|somebody)\s+(?:please\s+)?"
    r"(?:\w+\s+){0,2}?"
    r"(?:reset|unlock|unblock|reactivate|cancel|refund|delete|close|change|update|upgrade|"
    r"downgrade|restore|recover|verify|activate|deactivate|transfer|merge|remove)\s+"
    r"(?:\w+\s+){0,2}?(?:my|our)\s+"
    r"|\bplease\s+(?:reset|unlock|unblock|reactivate|cancel|refund|delete|close|restore|"
    r"recover|verify|activate|deactivate|transfer)\s+(?:my|our)\s+"
    r"|\b(?:my|our)\s+(?:account|login|order|subscription|invoice|payment|card|plan)\s+"
    r"(?:is|was|got|has\s+been)\s+(?:locked|blocked|suspended|banned|charged|disabled|hacked|"
    r"compromised)",
)


def asks_for_action(text: str) -> bool:
    """The contact asks for something to be done on its own account, order or data."""
    return bool(_ACTION.search(_fold(text)))


# --- follow-ups -----------------------------------------------------------------------------

_FOLLOW_UP = re.compile(
    r"^\s*(?:and|also|plus|what about|how about|what if|same (?:for|with)|"
    r"(?:ok(?:ay)?|and|but|so),?\s+(?:what about|how about|and|for)|and for|and with|"
    r"y|y para|y si|y con|¿y|que tal|"
    r"et|et pour|et si|et avec|qu'en est-il(?: de| des| du)?|"
    r"und|und fur|und wenn|und mit|was ist mit|wie ist es mit)\b[\s,]*",
    re.IGNORECASE,
)
_ANAPHORA = re.compile(
    r"\b(?:it|that|this|those|these|them|they|one|ones|there|eso|esto|ello|lo|la|"
    r"ca|cela|celui|ceci|le|das|dies|es|dort)\b",
    re.IGNORECASE,
)
_TOPIC_STOP = re.compile(
    r"^(?:how|do|does|did|i|can|could|would|should|is|are|the|a|an|my|to|what|why|when|"
    r"where|which|please|pls|you|your|me|it|of|in|on|for|with|and|or|there|way|any|some|"
    r"want|need|get|make|use|just|so|this|that|be|have|has|using)$"
)
# The verb of a "how do I <verb> <object> <preposition> <place>" question.
_FRAME = re.compile(
    r"^(?P<head>.*?\b(?:add|get|use|make|set|put|show|create|enable|disable|remove|delete|"
    r"change|configure|customi[sz]e|display|hide|sort|filter|translate|cache|test|send|"
    r"store|save|upload|register|install|deploy|run)\s+)"
    r"(?P<object>(?:(?:a|an|the|my|some)\s+)?[\w\s-]+?)"
    r"(?P<tail>\s+(?:to|in|on|into|from|for|with|inside|within)\s+.+)$",
    re.IGNORECASE,
)


def standalone_question(text: str, history: list[ConversationTurn]) -> str:
    """`text` as a self-contained question: a follow-up ("and for filters?") takes its topic
    from the conversation; a question that stands on its own comes back unchanged."""
    topic: str | None = None
    for index, turn in enumerate(history):
        if turn.role != "contact" or detect_small_talk(turn.text):
            continue
        previous_ai = _last_ai(history[:index])
        topic = _rewrite(turn.text.strip(), topic, previous_ai)
    return _rewrite(text, topic, _last_ai(history))


def _last_ai(history: list[ConversationTurn]) -> str | None:
    for turn in reversed(history):
        if turn.role in {"ai", "agent"}:
            return turn.text
        if turn.role == "contact":
            return None
    return None


def _rewrite(text: str, topic: str | None, previous_ai: str | None) -> str:
    if not topic or not text:
        return text
    connector = _FOLLOW_UP.match(text)
    content = _content_words(text)
    if connector:
        ask = text[connector.end() :].strip().rstrip("?!. ")
        if not ask or len(_content_words(ask)) >= 4:
            return text  # "and how do I make a field optional?" stands on its own
        framed = _FRAME.match(topic.rstrip("?!. "))
        if framed and len(_content_words(ask)) <= 4:
            if _PLACE.match(ask):
                # "how do I change the ordering in the admin?" + "what about in a queryset?"
                return f"{framed.group('head')}{framed.group('object')} {ask}?"
            # "how do I add a search box to the admin?" + "and for filters?" →
            # "how do I add filters to the admin?"
            return f"{framed.group('head')}{_strip_preposition(ask)}{framed.group('tail')}?"
        return f"{ask} ({_topic_terms(topic)})"
    if previous_ai and previous_ai.rstrip().endswith("?") and len(content) <= 3:
        # The visitor answers a clarifying question: the answer belongs to the question.
        return f"{topic.rstrip('?!. ')}: {text}"
    if len(content) <= 3 and _ANAPHORA.search(text):
        return f"{text.rstrip()} ({_topic_terms(topic)})"
    return text


_PLACE = re.compile(
    r"^(?:in|on|into|inside|within|from|under|en|dans|sur|im|in der|auf)\s+", re.IGNORECASE
)


def _strip_preposition(ask: str) -> str:
    return re.sub(r"^(?:for|with|about|to|para|con|pour|avec|fur|mit)\s+", "", ask, flags=re.I)


def _content_words(text: str) -> list[str]:
    return [w for w in re.findall(r"[\w'-]+", _fold(text)) if not _TOPIC_STOP.match(w)]


def _topic_terms(topic: str) -> str:
    words = re.findall(r"[\w.'()-]+", topic.rstrip("?!. "))
    kept = [w for w in words if not _TOPIC_STOP.match(_fold(w))]
    return " ".join(kept) or topic

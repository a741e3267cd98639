"""The few fixed phrases a responder adds around grounded content, in en, es, fr and de."""

from __future__ import annotations

from typing import Literal

Phrase = Literal["intro", "also", "no_answer", "refusal"]

_PHRASES: dict[str, dict[Phrase, str]] = {
    "en": {
        "intro": "Here's what I found:",
        "also": "Also:",
        "no_answer": "Sorry, I couldn't find this in the information I have.",
        "refusal": "Sorry, I can't share that. I'm happy to help with any other question.",
    },
    "es": {
        "intro": "Esto es lo que he encontrado:",
        "also": "Además:",
        "no_answer": "Lo siento, no he encontrado esto en la información de la que dispongo.",
        "refusal": "Lo siento, no puedo compartir eso. Con gusto te ayudo con cualquier otra "
        "pregunta.",
    },
    "fr": {
        "intro": "Voici ce que j'ai trouvé :",
        "also": "De plus :",
        "no_answer": "Désolé, je n'ai pas trouvé cette information dans ce dont je dispose.",
        "refusal": "Désolé, je ne peux pas partager cela. Je peux vous aider pour toute autre "
        "question.",
    },
    "de": {
        "intro": "Folgendes habe ich gefunden:",
        "also": "Außerdem:",
        "no_answer": "Leider habe ich dazu in meinen Informationen nichts gefunden.",
        "refusal": "Das kann ich leider nicht weitergeben. Bei anderen Fragen helfe ich gern.",
    },
}

LANGUAGE_NAMES = {
    "en": "English",
    "es": "Spanish",
    "fr": "French",
    "de": "German",
    "it": "Italian",
    "pt": "Portuguese",
    "nl": "Dutch",
    "pl": "Polish",
    "sv": "Swedish",
    "da": "Danish",
    "no": "Norwegian",
    "fi": "Finnish",
    "cs": "Czech",
    "tr": "Turkish",
    "ru": "Russian",
    "uk": "Ukrainian",
    "ar": "Arabic",
    "he": "Hebrew",
    "hi": "Hindi",
    "ja": "Japanese",
    "ko": "Korean",
    "zh": "Chinese",
}


def phrase(key: Phrase, language: str | None) -> str:
    """`key` in `language` (ISO 639-1, region suffixes ignored), English when unsupported."""
    base = (language or "en").lower().replace("_", "-").split("-")[0]
    return _PHRASES.get(base, _PHRASES["en"])[key]

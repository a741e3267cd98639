"""The few fixed phrases a responder adds around grounded content, in en, es, fr and de."""

from __future__ import annotations

from typing import Literal

Phrase = Literal[
    "intro",
    "also",
    "no_answer",
    "refusal",
    "clarify",
    "greeting",
    "thanks",
    "goodbye",
    "handoff",
    "handoff_closed",
    "collect",
    "no_human",
    "team_away",
    "declined_topic",
    "describe",
]

_PHRASES: dict[str, dict[Phrase, str]] = {
    "en": {
        "clarify": "Could you tell me a bit more, or put the question another way? I'd like to "
        "find the right answer for you.",
        "greeting": "Hello! How can I help you today?",
        "thanks": "You're welcome! Is there anything else I can help with?",
        "goodbye": "Goodbye, and thanks for getting in touch!",
        "handoff": "I'm passing this conversation to our team; a person will reply here shortly.",
        "handoff_closed": "I'm passing this conversation to our team. They're away right now and "
        "will be back on {when}; they'll reply here then.",
        "collect": "So they can follow up, could you share your {fields}?",
        "no_human": "I can't connect you with a person here, but I'm happy to help with your "
        "question.",
        "team_away": "Our team is away right now and will be back on {when}.",
        "declined_topic": "Sorry, I can't help with that request.",
        "describe": "To help them help you quickly, please describe the problem in a few words.",
        "intro": "Here's what I found:",
        "also": "Also:",
        "no_answer": "Sorry, I couldn't find this in the information I have.",
        "refusal": "Sorry, I can't share that. I'm happy to help with any other question.",
    },
    "es": {
        "clarify": "¿Podrías darme más detalles o formular la pregunta de otra manera? Quiero "
        "encontrar la respuesta correcta.",
        "greeting": "¡Hola! ¿En qué puedo ayudarte?",
        "thanks": "¡De nada! ¿Hay algo más en lo que pueda ayudarte?",
        "goodbye": "¡Adiós, y gracias por escribirnos!",
        "handoff": "Paso esta conversación a nuestro equipo; una persona te responderá aquí en "
        "breve.",
        "handoff_closed": "Paso esta conversación a nuestro equipo. Ahora no está disponible y "
        "volverá el {when}; te responderá aquí entonces.",
        "collect": "Para que puedan darte seguimiento, ¿podrías indicarnos tu {fields}?",
        "no_human": "No puedo ponerte en contacto con una persona aquí, pero con gusto te ayudo "
        "con tu pregunta.",
        "team_away": "Nuestro equipo no está disponible ahora y volverá el {when}.",
        "declined_topic": "Lo siento, no puedo ayudarte con esa solicitud.",
        "describe": "Para que puedan ayudarte rápido, describe el problema en pocas palabras.",
        "intro": "Esto es lo que he encontrado:",
        "also": "Además:",
        "no_answer": "Lo siento, no he encontrado esto en la información de la que dispongo.",
        "refusal": "Lo siento, no puedo compartir eso. Con gusto te ayudo con cualquier otra "
        "pregunta.",
    },
    "fr": {
        "clarify": "Pourriez-vous m'en dire un peu plus, ou formuler la question autrement ? "
        "Je voudrais trouver la bonne réponse.",
        "greeting": "Bonjour ! Comment puis-je vous aider ?",
        "thanks": "Avec plaisir ! Puis-je vous aider pour autre chose ?",
        "goodbye": "Au revoir, et merci de nous avoir contactés !",
        "handoff": "Je transmets cette conversation à notre équipe ; une personne vous répondra "
        "ici sous peu.",
        "handoff_closed": "Je transmets cette conversation à notre équipe. Elle est absente pour "
        "le moment et sera de retour le {when} ; elle vous répondra ici.",
        "collect": "Pour qu'elle puisse vous recontacter, pourriez-vous indiquer votre {fields} ?",
        "no_human": "Je ne peux pas vous mettre en relation avec une personne ici, mais je peux "
        "vous aider pour votre question.",
        "team_away": "Notre équipe est absente pour le moment et sera de retour le {when}.",
        "declined_topic": "Désolé, je ne peux pas vous aider pour cette demande.",
        "describe": "Pour qu'elle vous aide rapidement, décrivez le problème en quelques mots.",
        "intro": "Voici ce que j'ai trouvé :",
        "also": "De plus :",
        "no_answer": "Désolé, je n'ai pas trouvé cette information dans ce dont je dispose.",
        "refusal": "Désolé, je ne peux pas partager cela. Je peux vous aider pour toute autre "
        "question.",
    },
    "de": {
        "clarify": "Können Sie mir etwas mehr dazu sagen oder die Frage anders formulieren? "
        "Ich möchte die richtige Antwort finden.",
        "greeting": "Hallo! Wie kann ich Ihnen helfen?",
        "thanks": "Gern geschehen! Kann ich sonst noch helfen?",
        "goodbye": "Auf Wiedersehen und danke für Ihre Nachricht!",
        "handoff": "Ich gebe dieses Gespräch an unser Team weiter; eine Person antwortet Ihnen "
        "hier in Kürze.",
        "handoff_closed": "Ich gebe dieses Gespräch an unser Team weiter. Es ist gerade nicht "
        "erreichbar und ist ab {when} wieder da; dann antwortet es Ihnen hier.",
        "collect": "Damit sich das Team bei Ihnen melden kann: Wie lautet Ihr {fields}?",
        "no_human": "Ich kann Sie hier nicht mit einer Person verbinden, helfe Ihnen aber gern "
        "bei Ihrer Frage.",
        "team_away": "Unser Team ist gerade nicht erreichbar und ist ab {when} wieder da.",
        "declined_topic": "Bei dieser Anfrage kann ich leider nicht helfen.",
        "describe": "Damit man Ihnen schnell hilft, beschreiben Sie das Problem bitte kurz.",
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


def phrase_language(language: str | None) -> str:
    """The language `phrase` will speak for `language`: itself when supported, else English."""
    base = (language or "en").lower().replace("_", "-").split("-")[0]
    return base if base in _PHRASES else "en"


def phrase(key: Phrase, language: str | None, **fields: str) -> str:
    """`key` in `language` (ISO 639-1, region suffixes ignored), English when unsupported;
    `fields` fill the phrase's placeholders (`{when}`, `{fields}`)."""
    text = _PHRASES[phrase_language(language)][key]
    return text.format(**fields) if fields else text

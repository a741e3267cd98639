"""URL normalisation: the one canonical spelling of a page URL that the crawler uses as its
key (frontier, de-duplication, results), plus the cheap "is this link worth fetching" test."""

from __future__ import annotations

import re
from functools import lru_cache
from urllib.parse import urljoin, urlsplit, urlunsplit

from w3lib.url import canonicalize_url

_DEFAULT_PORTS = {"http": 80, "https": 443}

# Query parameters that identify a campaign, a click or a session, never a different page.
_TRACKING_EXACT = frozenset(
    {
        "fbclid", "gclid", "gclsrc", "dclid", "gbraid", "wbraid", "msclkid", "yclid",
        "twclid", "ttclid", "li_fat_id", "igshid", "mc_cid", "mc_eid", "_ga", "_gl",
        "_hsenc", "_hsmi", "__hstc", "__hssc", "__hsfp", "hsctatracking", "mkt_tok",
        "oly_anon_id", "oly_enc_id", "vero_id", "vero_conv", "rb_clickid", "s_cid",
        "ref_src", "ref_url", "spm", "scid", "epik", "phpsessid", "jsessionid",
        "aspsessionid", "sessionid", "sid", "cfid", "cftoken",
    }
)  # fmt: skip
_TRACKING_PREFIXES = ("utm_", "hsa_", "pk_", "mtm_", "matomo_", "piwik_", "_hs")
_PATH_SESSION = re.compile(r";(?:jsessionid|phpsessid|sid)=[^/?#]*", re.IGNORECASE)

# Links whose extension says they are not a page: fetching them would only cost a request.
_SKIPPED_EXTENSIONS = frozenset(
    {
        # images
        "png", "jpg", "jpeg", "gif", "webp", "svg", "svgz", "ico", "bmp", "tif", "tiff",
        "avif", "heic", "heif", "psd", "ai", "eps",
        # audio and video
        "mp3", "mp4", "m4a", "m4v", "wav", "ogg", "oga", "ogv", "webm", "avi", "mov", "mkv",
        "flv", "wmv", "flac", "aac", "opus", "mpg", "mpeg", "3gp",
        # archives and binaries
        "zip", "tar", "gz", "tgz", "bz2", "xz", "7z", "rar", "zst", "lz", "lzma", "cab",
        "exe", "msi", "dmg", "pkg", "deb", "rpm", "apk", "ipa", "iso", "img", "bin", "jar",
        "war", "whl", "egg", "so", "dll",
        # office documents we do not extract
        "doc", "docx", "xls", "xlsx", "ppt", "pptx", "odt", "ods", "odp", "rtf", "epub",
        "mobi", "pages", "numbers", "key",
        # fonts, assets and data
        "woff", "woff2", "ttf", "otf", "eot", "css", "js", "mjs", "map", "json", "jsonld",
        "xml", "rss", "atom", "csv", "tsv", "yaml", "yml", "wasm", "ics", "vcf", "gpx",
        "kml", "swf", "sql", "db", "sqlite", "parquet", "avro", "pkl", "npy", "ckpt",
        "safetensors", "torrent",
    }
)  # fmt: skip


def _is_tracking(name: str) -> bool:
    lowered = name.lower()
    return lowered in _TRACKING_EXACT or lowered.startswith(_TRACKING_PREFIXES)


def _clean_query(query: str) -> str:
    if not query:
        return ""
    kept = [part for part in query.split("&") if part and not _is_tracking(part.split("=", 1)[0])]
    return "&".join(kept)


@lru_cache(maxsize=65_536)
def _normalize_absolute(url: str) -> str | None:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        return None
    host = (parts.hostname or "").rstrip(".")
    if not host:
        return None
    # Credentials in a crawled link would be sent to the site; a page URL never needs them.
    netloc = f"[{host}]" if ":" in host else host
    if port is not None and port != _DEFAULT_PORTS[scheme]:
        netloc = f"{netloc}:{port}"
    path = _PATH_SESSION.sub("", parts.path) or "/"
    try:
        return canonicalize_url(urlunsplit((scheme, netloc, path, _clean_query(parts.query), "")))
    except ValueError:
        return None


def normalize_url(url: str, base: str | None = None) -> str | None:
    """The canonical form of `url` (resolved against `base`), or None when it is not http(s).

    Lower-cases scheme and host, drops the default port, credentials, fragment and tracking
    or session parameters, sorts the query, resolves `.` and `..`, and normalises
    percent-encoding, so two spellings of one page compare equal.
    """
    raw = url.strip()
    if base is not None:
        try:
            raw = urljoin(base, raw)
        except ValueError:
            return None
    return _normalize_absolute(raw)


def has_skipped_extension(url: str) -> bool:
    """True when the path ends in an extension that is never a page (images, archives...)."""
    path = urlsplit(url).path
    last = path.rsplit("/", 1)[-1]
    if "." not in last:
        return False
    return last.rsplit(".", 1)[-1].lower() in _SKIPPED_EXTENSIONS


def origin_of(url: str) -> str:
    """`scheme://host[:port]` of a normalised URL."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"

"""The host code index (HoloIndex's role in the seed) and the verifier the miner uses.

``index_host`` walks ``HOST_ROOT/modules/<domain>/<module>/`` -- README, module and class
docstrings (read with :mod:`ast`; host code is never imported), public names -- into
``module_location`` patterns that answer "which module handles X?"; the passages of each
module's README and INTERFACE into ``module_doc`` patterns, the evidence for "why" and "how
should I" questions; and the WSP documents under ``WSP_framework/src/`` into
``wsp_compliance`` patterns.

:class:`Verifier` tells the miner whether a logger name (``modules.a.b.src.c``) or a path
seen in the log is real code inside HOST_ROOT, and gives a short code reference
``file:symbol:lines``. Nothing outside HOST_ROOT is ever read: relative paths with ``..``,
absolute paths and links that resolve outside the root are refused.
"""

from __future__ import annotations

import ast
import codecs
import io
import logging
import os
import re
import stat
import time
import tokenize
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from foundups_training.mining.redact import redact
from foundups_training.records import Pattern

log = logging.getLogger(__name__)

#: Files larger than this are not parsed (generated code, data dumps).
MAX_FILE_BYTES = 512 * 1024
#: Folders never walked inside a module.
SKIP_DIRS = frozenset(
    {"__pycache__", ".git", "node_modules", ".venv", "venv", "memory", "assets", "data", "logs"}
)
#: Patterns written to the memory per call while indexing.
INDEX_BATCH = 512
#: Longest context text of an index pattern (the embedder reads ~256 tokens anyway).
MAX_CONTEXT = 1200
_PATH_IN_TEXT = re.compile(r"(?:^|[\s'\"(=:\\/])(modules[\\/][\w.\-\\/]+\.py)\b")
_MD_NOISE = re.compile(r"^\s*(?:[!\[<|`>]|-{3,}|={3,}|\*\*(?:WSP|Status|Version|Domain))")
_EMPHASIS = re.compile(r"[*`]|(?<!\w)_+|_+(?!\w)")
_WSP_FILE = re.compile(r"WSP_(\d+)[_\-]?(.*)\.md$", re.I)
#: A module's own documents whose passages become ``module_doc`` patterns.
MODULE_DOCS = ("README.md", "INTERFACE.md")
#: Longest passage of a module document, and passages kept per document.
DOC_PASSAGE_CHARS = 400
DOC_PASSAGES_PER_FILE = 40
_HEADING = re.compile(r"^(#{1,4})\s+(.+?)\s*#*\s*$")
#: Sections that describe the paperwork, not the module: skipped.
_BOILERPLATE_SECTION = re.compile(
    r"wsp compliance|modlog|change ?log|licen[cs]e|authors?\b|version history|contribut|llme|"
    r"related|references?$|^tests?\b|testing|table of contents",
    re.I,
)


# -- safe file access ---------------------------------------------------------------------
def safe_relative(root: Path, rel: str) -> Path | None:
    """``root/rel`` if it is a real file inside ``root``; None for ``..``, absolute paths,
    links leading outside, or anything missing."""
    rel = rel.replace("\\", "/").strip()
    pure = PurePosixPath(rel)
    if not rel or pure.is_absolute() or re.match(r"^[A-Za-z]:", rel) or ".." in pure.parts:
        return None
    candidate = root.joinpath(*pure.parts)
    try:
        resolved = candidate.resolve(strict=True)
    except (OSError, RuntimeError):
        return None
    if not resolved.is_relative_to(root) or not resolved.is_file():
        return None
    return resolved


def read_text_inside(root: Path, path: Path, limit: int = MAX_FILE_BYTES) -> str | None:
    """Text of ``path`` if it lies inside ``root``, is small enough and is text (see
    :func:`decode_text`); else None."""
    try:
        resolved = path.resolve(strict=True)
        if not resolved.is_relative_to(root) or not resolved.is_file():
            return None
        with resolved.open("rb") as fh:
            if os.fstat(fh.fileno()).st_size > limit:
                return None
            # read no more than the limit allows, even from a file that grew since the check
            raw = fh.read(limit + 1)
        if len(raw) > limit:
            return None
    except (OSError, RuntimeError):
        return None
    return decode_text(raw, python=resolved.suffix == ".py")


def _ansi_bytes(exc: UnicodeError) -> tuple[str, int]:
    """Codec error handler: the bytes that are not UTF-8 read as Windows' ANSI code page."""
    if not isinstance(exc, UnicodeDecodeError):
        raise exc
    return exc.object[exc.start : exc.end].decode("cp1252", "replace"), exc.end


_ANSI_FALLBACK = "foundups_training.host_index.cp1252"
codecs.register_error(_ANSI_FALLBACK, _ansi_bytes)


def decode_text(raw: bytes, *, python: bool = False) -> str | None:
    """The text of a host file as its editor saved it; None for binary data.

    A Windows developer's tree holds more than UTF-8: Notepad and Visual Studio write a
    UTF-8 byte order mark (Python imports such a file, but ``ast`` refuses the mark in a
    string and a README's first heading no longer started with ``#``), PowerShell's ``>``
    writes UTF-16, and older files are in the ANSI code page (cp1252), which read as UTF-8
    turned every accent and curly quote into U+FFFD. So: a byte order mark says the
    encoding; a Python file's coding declaration is honoured as Python honours it; anything
    else is UTF-8, each byte that is not UTF-8 read as cp1252 (so a UTF-8 file with one
    stray ANSI byte keeps its other characters). Text with a NUL is binary data (a
    generated blob, an archive saved as ``.py``) and gives nothing.
    """
    if raw.startswith(codecs.BOM_UTF8):
        text = raw[len(codecs.BOM_UTF8) :].decode("utf-8", _ANSI_FALLBACK)
    elif raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        text = raw.decode("utf-16", "replace")
    else:
        encoding = "utf-8"
        if python:
            try:
                encoding = tokenize.detect_encoding(io.BytesIO(raw).readline)[0]
            except (SyntaxError, LookupError):
                encoding = "utf-8"
        try:
            text = raw.decode(encoding, _ANSI_FALLBACK if encoding == "utf-8" else "replace")
        except LookupError:
            text = raw.decode("utf-8", _ANSI_FALLBACK)
    return None if "\x00" in text else text


def _plain_file(path: Path) -> bool:
    """Whether ``path`` is a regular file and not a link. False, never an exception, for
    what the indexing user may not look at (``Path.is_file`` raises PermissionError, which
    ended the whole index at the first module folder it could not open)."""
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except (OSError, ValueError):
        return False


def _plain_dir(path: Path) -> bool:
    """Whether ``path`` is a folder and not a link; False for what cannot be looked at."""
    try:
        return stat.S_ISDIR(os.lstat(path).st_mode)
    except (OSError, ValueError):
        return False


def _entry_type(entry: os.DirEntry[str]) -> str:
    """What an entry is: "link", "dir", "file", or "" for anything else and for an entry
    that cannot be looked at."""
    try:
        if entry.is_symlink():
            return "link"
        if entry.is_dir(follow_symlinks=False):
            return "dir"
        if entry.is_file(follow_symlinks=False):
            return "file"
    except OSError:
        pass
    return ""


# -- what a Python file defines --------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Symbol:
    """A class or function of a source file, with the strings it contains."""

    name: str
    kind: str  # "class" | "function"
    start: int
    end: int
    doc: str
    strings: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class SourceFile:
    """What :mod:`ast` tells about one file."""

    rel: str
    lines: int
    doc: str
    symbols: tuple[Symbol, ...]

    @property
    def public(self) -> list[Symbol]:
        """Top-level public classes and functions."""
        return [s for s in self.symbols if "." not in s.name and not s.name.startswith("_")]


def _strings_in(node: ast.AST) -> tuple[str, ...]:
    found: list[str] = []
    for sub in ast.walk(node):
        if isinstance(sub, ast.Constant) and isinstance(sub.value, str):
            value = sub.value.strip()
            if 6 <= len(value) <= 300:
                found.append(value)
    return tuple(found)


def parse_source(rel: str, text: str) -> SourceFile | None:
    """Parse ``text`` (never executed); None when it is not valid Python."""
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    symbols: list[Symbol] = []

    def visit(body: list[ast.stmt], prefix: str) -> None:
        for node in body:
            if isinstance(node, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
                name = f"{prefix}{node.name}"
                kind = "class" if isinstance(node, ast.ClassDef) else "function"
                strings = () if kind == "class" else _strings_in(node)
                symbols.append(
                    Symbol(
                        name=name,
                        kind=kind,
                        start=node.lineno,
                        end=getattr(node, "end_lineno", None) or node.lineno,
                        doc=ast.get_docstring(node) or "",
                        strings=strings,
                    )
                )
                if isinstance(node, ast.ClassDef):
                    visit(node.body, f"{name}.")

    visit(tree.body, "")
    return SourceFile(
        rel=rel,
        lines=text.count("\n") + 1,
        doc=ast.get_docstring(tree) or "",
        symbols=tuple(symbols),
    )


def first_paragraph(doc: str, limit: int = 400) -> str:
    """The first paragraph of a docstring, on one line."""
    para = doc.strip().split("\n\n", 1)[0]
    return " ".join(para.split())[:limit]


# -- the verifier ---------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Verification:
    """Whether a log reference is real code, and where."""

    verified: bool
    code_ref: str = ""
    file: str = ""


class Verifier:
    """Resolves logger names and paths from the log against the host tree (read-only)."""

    def __init__(self, host_root: Path) -> None:
        self.root = host_root.resolve()
        self._files: dict[str, SourceFile | None] = {}
        self._resolved: dict[str, str] = {}
        self._refs: dict[tuple[str, str], str] = {}

    def file_for_logger(self, logger: str) -> str:
        """Relative path of the file a dotted logger names, or "" when there is none."""
        if logger in self._resolved:
            return self._resolved[logger]
        rel = ""
        parts = logger.split(".")
        if logger.startswith("modules.") and all(p.isidentifier() for p in parts):
            base = "/".join(parts)
            for cand in (f"{base}.py", f"{base}/__init__.py"):
                if safe_relative(self.root, cand) is not None:
                    rel = cand
                    break
        self._resolved[logger] = rel
        return rel

    def file_for_path(self, text: str) -> str:
        """Relative path of a ``modules/...py`` path mentioned in a message, or ""."""
        m = _PATH_IN_TEXT.search(text)
        if not m:
            return ""
        rel = m.group(1).replace("\\", "/")
        if rel in self._resolved:
            return self._resolved[rel]
        found = rel if safe_relative(self.root, rel) is not None else ""
        self._resolved[rel] = found
        return found

    def source(self, rel: str) -> SourceFile | None:
        """The parsed file ``rel`` (cached); None when it cannot be read or parsed."""
        if rel not in self._files:
            path = safe_relative(self.root, rel)
            text = read_text_inside(self.root, path) if path else None
            self._files[rel] = parse_source(rel, text) if text is not None else None
        return self._files[rel]

    def verify(self, logger: str, message: str = "", hint: str = "") -> Verification:
        """Verify a record: its logger, else a path in its message.

        ``hint`` (the message's template) picks the function whose string literals it
        contains, so the code reference points at the line's emitter, not just its file.
        """
        rel = self.file_for_logger(logger) if logger else ""
        if not rel and message and "modules" in message:
            rel = self.file_for_path(message)
        if not rel:
            return Verification(False)
        key = (rel, hint or message)
        ref = self._refs.get(key)
        if ref is None:
            ref = self._code_ref(rel, hint or message)
            self._refs[key] = ref
        return Verification(True, ref, rel)

    def _code_ref(self, rel: str, message: str) -> str:
        src = self.source(rel)
        stem = PurePosixPath(rel).stem
        if src is None:
            return f"{rel}:{stem}:1"
        best: Symbol | None = None
        best_len = 0
        for sym in src.symbols:
            for s in sym.strings:
                # compare on the literal's stable head (f-string holes are separate nodes)
                probe = s.split("{", 1)[0].strip()
                if len(probe) > best_len and len(probe) >= 6 and probe in message:
                    best, best_len = sym, len(probe)
        if best is not None:
            return f"{rel}:{best.name}:{best.start}-{best.end}"
        return f"{rel}:{stem}:1-{src.lines}"


# -- the index --------------------------------------------------------------------------------
@dataclass(frozen=True)
class IndexReport:
    """What ``index_host`` did."""

    host_root: str
    modules: int
    files: int
    wsp_documents: int
    patterns_stored: int
    patterns_total: int
    duration_s: float
    skipped: int = 0
    warnings: tuple[str, ...] = ()
    patterns_removed: int = 0
    #: Files and folders skipped as their names are not UTF-8 (:func:`_utf8_name`), and
    #: the first few of them, relative to the root, their bytes shown as ``\\xe9``.
    undecodable: int = 0
    undecodable_names: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        """Plain dict (for ``--json``)."""
        return {
            "host_root": self.host_root,
            "modules": self.modules,
            "files": self.files,
            "wsp_documents": self.wsp_documents,
            "patterns_stored": self.patterns_stored,
            "patterns_total": self.patterns_total,
            "patterns_removed": self.patterns_removed,
            "duration_s": round(self.duration_s, 3),
            "skipped": self.skipped,
            "undecodable": self.undecodable,
            "undecodable_names": list(self.undecodable_names),
            "warnings": list(self.warnings),
        }


def _markdown_lines(text: str) -> Iterator[tuple[int, str]]:
    """(line number, stripped line) for the non-blank lines of a markdown document outside
    its fenced code blocks."""
    in_code = False
    for n, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if stripped.startswith("```"):
            in_code = not in_code
        elif stripped and not in_code:
            yield n, stripped


def _readme_summary(text: str, limit: int = 700) -> tuple[str, str]:
    """Title and the first prose of a README (badges, tables, code and WSP banners skipped)."""
    title = ""
    prose: list[str] = []
    size = 0
    for _, stripped in _markdown_lines(text):
        if stripped.startswith("#"):
            if not title:
                title = stripped.lstrip("#").strip()
            continue
        if _MD_NOISE.match(stripped):
            continue
        # drop markdown emphasis, but keep the underscores of names like agent_permissions
        clean = _EMPHASIS.sub("", stripped).lstrip("-• ").strip()
        if clean:
            prose.append(clean)
            size += len(clean)
            if size >= limit:
                break
    return title, " ".join(prose)[:limit]


def _scan_dir(path: Path) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(path) as it:
            return sorted(it, key=lambda e: e.name)
    except OSError:
        return []


def _utf8_name(name: str) -> bool:
    """Whether a file name read from the tree is text. On POSIX a name that is not UTF-8
    comes back with lone surrogates (``caf\\udce9.py``): a pattern holding one cannot be
    stored (the store encodes UTF-8 and raised, failing the whole ``index``), and such a
    file cannot be imported by the host either. Such names are skipped, and counted
    (:class:`_Undecodable`), so that the summary says what the index left out."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


@dataclass
class _Undecodable:
    """The names :func:`_utf8_name` refused: how many, and the first few (readable)."""

    root: Path
    count: int = 0
    names: list[str] = field(default_factory=list)

    def check(self, entry: os.DirEntry[str]) -> bool:
        """Whether ``entry``'s name is text; counts it when it is not."""
        if _utf8_name(entry.name):
            return True
        self.count += 1
        if len(self.names) < UNDECODABLE_SHOWN:
            rel = os.path.relpath(entry.path, self.root)
            raw = os.fsencode(rel)  # the name's bytes as they are on disk
            self.names.append(raw.decode("utf-8", "backslashreplace").replace(os.sep, "/"))
        return False


#: Undecodable names the index report lists (all are counted).
UNDECODABLE_SHOWN = 5


def _module_dirs(root: Path, undecodable: _Undecodable) -> Iterator[tuple[str, str, Path]]:
    """(domain, module, dir) for every ``modules/<domain>/<module>/``; links never followed,
    names that are not text (:func:`_utf8_name`) skipped and counted."""
    modules = root / "modules"
    if not _plain_dir(modules):
        return
    for dom in _scan_dir(modules):
        if _entry_type(dom) != "dir" or dom.name.startswith((".", "_")):
            continue
        if not undecodable.check(dom):
            continue
        for mod in _scan_dir(Path(dom.path)):
            if (
                _entry_type(mod) == "dir"
                and not mod.name.startswith((".", "_"))
                and undecodable.check(mod)
            ):
                yield dom.name, mod.name, Path(mod.path)


def _python_files(module_dir: Path, undecodable: _Undecodable, limit: int = 300) -> list[Path]:
    """Python files of a module (tests and data folders skipped), links never followed;
    folders and Python files whose names are not text skipped and counted."""
    out: list[Path] = []
    stack = [module_dir]
    while stack and len(out) < limit:
        here = stack.pop()
        for entry in _scan_dir(here):
            kind = _entry_type(entry)  # a link ("link") may lead outside HOST_ROOT: skipped
            if kind == "dir":
                if (
                    entry.name not in SKIP_DIRS
                    and entry.name != "tests"
                    and not entry.name.startswith(".")
                    and undecodable.check(entry)
                ):
                    stack.append(Path(entry.path))
            elif (
                kind == "file"
                and entry.name.endswith(".py")
                and not entry.name.startswith("test_")
                and undecodable.check(entry)
            ):
                out.append(Path(entry.path))
    return sorted(out)[:limit]


@dataclass
class _Collected:
    undecodable: _Undecodable
    patterns: list[Pattern] = field(default_factory=list)
    files: int = 0
    skipped: int = 0


def _pattern(kind: str, context: str, decision: str, **fields: Any) -> Pattern:
    """``Pattern.make`` on redacted text, cut to :data:`MAX_CONTEXT` once redacted (a cut
    first could leave half a key, which no rule matches): a README or a docstring can hold
    a key (``export YOUTUBE_API_KEY=AIza…``), and nothing stored may, nor an id made from it."""
    return Pattern.make(kind, redact(context)[:MAX_CONTEXT], redact(decision), **fields)


def _index_module(root: Path, domain: str, module: str, mdir: Path, out: _Collected) -> None:
    mod_path = f"modules/{domain}/{module}"
    decision = f"{mod_path}/"
    readme_rel = ""
    title = summary = ""
    readme = next(
        (n for n in ("README.md", "Readme.md", "readme.md", "README.MD") if _plain_file(mdir / n)),
        "",
    )
    if readme:
        text = read_text_inside(root, mdir / readme)
        if text is not None:
            title, summary = _readme_summary(text)
            readme_rel = f"{mod_path}/{readme}"
    classes: list[str] = []
    functions: list[str] = []
    file_docs: list[str] = []
    for py in _python_files(mdir, out.undecodable):
        rel = py.relative_to(root).as_posix()
        text = read_text_inside(root, py)
        src = parse_source(rel, text) if text is not None else None
        if src is None:
            out.skipped += 1
            continue
        out.files += 1
        public = src.public
        classes += [s.name for s in public if s.kind == "class"]
        functions += [s.name for s in public if s.kind == "function"]
        doc = first_paragraph(src.doc)
        if doc:
            file_docs.append(doc)
        if doc or public:
            names = ", ".join(s.name for s in public[:12])
            context = f"{rel} ({module} module, {domain}): {doc}" + (
                f" Defines: {names}." if names else ""
            )
            out.patterns.append(
                _pattern(
                    "module_location",
                    context,
                    decision,
                    key=rel,
                    module=mod_path,
                    source="code",
                    verified=True,
                    code_ref=f"{rel}:{py.stem}:1-{src.lines}",
                )
            )
        for sym in public:
            if sym.kind == "class" and sym.doc:
                context = f"class {sym.name} in {rel} ({module} module): {first_paragraph(sym.doc)}"
                out.patterns.append(
                    _pattern(
                        "module_location",
                        context,
                        decision,
                        key=f"{rel}:{sym.name}",
                        module=mod_path,
                        source="code",
                        verified=True,
                        code_ref=f"{rel}:{sym.name}:{sym.start}-{sym.end}",
                    )
                )
    pieces = [f"{module} module ({domain} domain), {mod_path}/."]
    if title:
        pieces.append(f"{title}.")
    if summary:
        pieces.append(summary)
    elif file_docs:
        pieces.append(" ".join(file_docs[:2]))
    if classes:
        pieces.append("Classes: " + ", ".join(classes[:10]) + ".")
    if functions:
        pieces.append("Functions: " + ", ".join(functions[:10]) + ".")
    out.patterns.append(
        _pattern(
            "module_location",
            " ".join(pieces),
            decision,
            key=mod_path,
            module=mod_path,
            source="code",
            verified=True,
            code_ref=readme_rel or mod_path,
        )
    )
    # The README is the one the summary was read from, whatever the case of its name (on a
    # case-sensitive checkout a module's ``readme.md`` gave a summary and no passages).
    for label, name in zip(MODULE_DOCS, (readme or MODULE_DOCS[0], *MODULE_DOCS[1:]), strict=True):
        path = mdir / name
        if not _plain_file(path):
            continue
        text = read_text_inside(root, path)
        if text is None:
            continue
        rel = f"{mod_path}/{name}"
        for heading, start, end, passage in doc_passages(text)[:DOC_PASSAGES_PER_FILE]:
            out.patterns.append(
                _pattern(
                    "module_doc",
                    f"{module} {Path(label).stem}, {heading}: {passage}",
                    decision,
                    module=mod_path,
                    source="code",
                    verified=True,
                    code_ref=f"{rel}:{_ref_heading(heading)}:{start}-{end}",
                )
            )


def _ref_heading(heading: str) -> str:
    """A heading as a code reference names it: redacted, then cut (a heading can hold a key,
    ``## Setup with YOUTUBE_API_KEY=AIza…``, and the reference is stored as it is)."""
    return redact(heading)[:60]


def doc_passages(text: str, limit: int = DOC_PASSAGE_CHARS) -> list[tuple[str, int, int, str]]:
    """(heading, first line, last line, passage) for the prose and bullets of a markdown
    document, cut at headings and then into passages of at most ``limit`` characters at
    line ends. Code blocks, tables, badges and the paperwork sections (WSP compliance,
    change logs, tests …) are left out; a passage under 40 characters is dropped."""
    out: list[tuple[str, int, int, str]] = []
    heading, skip = "", False
    buf: list[str] = []
    first = last = 0

    def flush() -> None:
        passage = " ".join(buf).strip()
        if len(passage) >= 40 and not skip:
            out.append((heading or "overview", first, last, passage[:limit]))
        buf.clear()

    for n, stripped in _markdown_lines(text):
        head = _HEADING.match(stripped)
        if head:
            flush()
            heading = _EMPHASIS.sub("", re.sub(r"\[([^]]*)\]\([^)]*\)", r"\1", head.group(2)))
            heading = heading.strip() or "overview"
            skip = bool(_BOILERPLATE_SECTION.search(heading))
            continue
        if _MD_NOISE.match(stripped):
            continue
        clean = _EMPHASIS.sub("", stripped).strip()
        if not clean:
            continue
        if buf and sum(len(b) + 1 for b in buf) + len(clean) > limit:
            flush()
        if not buf:
            first = n
        buf.append(clean)
        last = n
    flush()
    return out


def _index_wsp(root: Path, out: _Collected) -> int:
    """WSP documents into ``wsp_compliance`` patterns: one per document and main section."""
    docs = 0
    # WSP_knowledge is the archive of WSP_framework: the same documents under the same
    # names. A document the framework holds is read from there only; each one was indexed
    # twice, two patterns of one text taking two of the few places a recall returns.
    in_force: set[str] = set()
    for base in ("WSP_framework/src", "WSP_knowledge/src"):
        folder = root / base
        if not _plain_dir(folder):
            continue
        for entry in _scan_dir(folder):
            m = _WSP_FILE.match(entry.name)
            if not m or _entry_type(entry) != "file" or entry.name.lower() in in_force:
                continue
            if not out.undecodable.check(entry):
                continue
            text = read_text_inside(root, Path(entry.path))
            if text is None:
                continue
            if base == "WSP_framework/src":
                in_force.add(entry.name.lower())
            docs += 1
            number = int(m.group(1))
            rel = f"{base}/{entry.name}"
            title, summary = _readme_summary(text, limit=600)
            name = re.sub(rf"^WSP[ _]?{number}\s*[:\-]?\s*", "", title) or m.group(2).replace(
                "_", " "
            )
            decision = f"WSP {number}: {name}"
            out.patterns.append(
                _pattern(
                    "wsp_compliance",
                    f"WSP {number} ({name}): {summary}",
                    decision,
                    key=rel,
                    source="code",
                    verified=True,
                    code_ref=f"{rel}:WSP_{number}:1-{text.count(chr(10)) + 1}",
                )
            )
            for section, start, end, body in _sections(text)[:8]:
                if len(body) < 40:
                    continue
                out.patterns.append(
                    _pattern(
                        "wsp_compliance",
                        f"WSP {number} {name} - {section}: {body}",
                        decision,
                        key=f"{rel}#{section}",
                        source="code",
                        verified=True,
                        code_ref=f"{rel}:{_ref_heading(section)}:{start}-{end}",
                    )
                )
    return docs


def _sections(text: str) -> list[tuple[str, int, int, str]]:
    """(heading, first line, last line, prose) for each ``##`` section of a document."""
    lines = text.splitlines()
    heads = [i for i, line in enumerate(lines) if line.startswith("## ")]
    out = []
    for n, i in enumerate(heads):
        j = heads[n + 1] if n + 1 < len(heads) else len(lines)
        _, body = _readme_summary("\n".join(lines[i + 1 : j]), limit=700)
        out.append((lines[i][3:].strip(), i + 1, j, body))
    return out


def collect_host_patterns(
    host_root: Path, progress: Callable[[int, int], None] | None = None
) -> tuple[list[Pattern], IndexReport]:
    """Walk the host tree into patterns (nothing stored); the report's store counts are 0."""
    start = time.perf_counter()
    root = host_root.resolve()
    if not root.is_dir():
        raise FileNotFoundError(f"host root {host_root} is not a directory")
    warnings: list[str] = []
    out = _Collected(_Undecodable(root))
    mods = list(_module_dirs(root, out.undecodable))
    if not mods:
        warnings.append(f"no modules/<domain>/<module>/ folders under {root}")
    for n, (domain, module, mdir) in enumerate(mods, 1):
        _index_module(root, domain, module, mdir, out)
        if progress is not None:
            progress(n, len(mods))
    docs = _index_wsp(root, out)
    report = IndexReport(
        host_root=str(root),
        modules=len(mods),
        files=out.files,
        wsp_documents=docs,
        patterns_stored=0,
        patterns_total=0,
        duration_s=time.perf_counter() - start,
        skipped=out.skipped,
        warnings=tuple(warnings),
        undecodable=out.undecodable.count,
        undecodable_names=tuple(out.undecodable.names),
    )
    return out.patterns, report


def _rewritten(memory: Any, patterns: list[Pattern]) -> dict[str, Pattern]:
    """id -> its replacement, for the stored patterns whose text ``patterns`` change.

    A file's, a class's and a module's summary and a WSP document's patterns have ids made
    from their path (the router finds a summary by :func:`module_summary_id`), and the store
    keeps the text of an id it knows. So once a docstring, README or WSP document was
    rewritten, indexing again kept its old text for good. Such a pattern is replaced
    (:func:`_replace_rewritten`), its count carried on. A memory that cannot list what it
    holds (``all_patterns``) or swap a text (``replace_text``) is left as it was.
    """
    scan = getattr(memory, "all_patterns", None)
    if scan is None or not hasattr(memory, "replace_text"):
        return {}
    wanted = {p.id: p for p in patterns}
    changed: dict[str, Pattern] = {}
    for old in scan(where={"source": "code"}):
        new = wanted.get(old.id)
        if new is not None and (old.context, old.decision) != (new.context, new.decision):
            changed[old.id] = new
    return changed


def _replace_rewritten(memory: Any, changed: dict[str, Pattern]) -> None:
    """Store the new text of each rewritten pattern in place of its old one, a batch at a
    time.

    The pattern memory swaps a known id's text, vector and metadata in one write
    (``replace_text``, its counts carried on): a store failing, or ``index`` killed, at any
    point leaves each pattern its old text or its new one, and the error goes on; the next
    ``index`` finds what is still old and replaces it. (Deleting the old pattern, then
    storing the new, lost it when the process died in between.)
    """
    if changed:
        log.info("replacing the text of %d rewritten code patterns", len(changed))
    news = list(changed.values())
    for i in range(0, len(news), INDEX_BATCH):
        memory.replace_text(news[i : i + INDEX_BATCH])


def index_host(
    host_root: Path,
    memory: Any,
    progress: Callable[[int, int], None] | None = None,
    *,
    prune: bool = True,
) -> IndexReport:
    """Index ``host_root`` into ``memory`` (``upsert``/``count``); see the module docstring.

    With ``prune`` (the default) the code patterns stored by an earlier index that this tree
    no longer yields -- a module moved or deleted, a README or docstring rewritten -- are
    removed, so the memory describes the tree as it is now. Patterns mined from the log are
    never touched, and a tree without any module folder removes nothing (a mistyped root
    must not empty the memory).
    """
    start = time.perf_counter()
    patterns, report = collect_host_patterns(host_root, progress)
    # One pattern per id: a class and a file never share a key, but be safe.
    unique = list({p.id: p for p in patterns}.values())
    changed = _rewritten(memory, unique)
    # What is new or unchanged first, then the rewritten ones; what the tree no longer
    # yields is removed last. A store failing anywhere leaves each pattern's old or new text.
    fresh = [p for p in unique if p.id not in changed]
    for i in range(0, len(fresh), INDEX_BATCH):
        memory.upsert(fresh[i : i + INDEX_BATCH])
    _replace_rewritten(memory, changed)
    removed = 0
    if prune and report.modules and hasattr(memory, "ids") and hasattr(memory, "delete"):
        keep = {p.id for p in unique}
        stale = [pid for pid in memory.ids(where={"source": "code"}) if pid not in keep]
        if stale:
            removed = int(memory.delete(stale))
            log.info("removed %d code patterns no longer in %s", removed, report.host_root)
    return IndexReport(
        host_root=report.host_root,
        modules=report.modules,
        files=report.files,
        wsp_documents=report.wsp_documents,
        patterns_stored=len(unique),
        patterns_total=int(memory.count()),
        duration_s=time.perf_counter() - start,
        skipped=report.skipped,
        warnings=report.warnings,
        patterns_removed=removed,
        undecodable=report.undecodable,
        undecodable_names=report.undecodable_names,
    )

"""A forgiving XML-ish tree reader for device exports that strict parsers reject.

What the devices actually write (all seen in the corpus): namespace prefixes used without
a declaration (Topcon CV-5000 fragments), element names with a dot (`<No.>`), closing tags
carrying attributes (`</GreenTransmittance unit="%">`, NIDEK LM-1800PD), processing
instructions without their closing `?>` (same file), and HUVITZ's backslash closing tags
(`<\\patient>`). Prefixes are dropped: every vendor in the family uses one name per concept.
Pure and linear in the input size; no entities beyond the five predefined and numeric ones.
"""

from __future__ import annotations

import html
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass, field

_TOKEN = re.compile(
    r"<!--.*?(?:-->|$)"  # comment (maybe unterminated)
    r"|<!\[CDATA\[(?P<cdata>.*?)(?:\]\]>|$)"
    r"|<[?!][^<>]*>?"  # processing instruction / doctype; a missing '>' ends at the next '<'
    r"|<(?P<close>[/\\])?(?P<name>[A-Za-z_][\w.:\-]*)(?P<attrs>[^<>]*?)(?P<empty>/)?>"
    r"|(?P<text>[^<]+)"
    r"|<",  # a stray '<' is text noise
    re.DOTALL,
)
_ATTR = re.compile(r"""([\w.:\-]+)\s*=\s*(?:"([^"]*)"|'([^']*)')""")


@dataclass(slots=True)
class Node:
    tag: str  # local name, prefix removed
    attr_text: str = ""  # the start tag's attributes as written; `attrs` parses them on first use
    children: list[Node] = field(default_factory=list)
    parts: list[str] = field(default_factory=list)
    _attrs: dict[str, str] | None = field(default=None, repr=False, compare=False)

    @property
    def attrs(self) -> dict[str, str]:
        """Attributes by local name. Parsed lazily: adapters read a handful of the attributes in a
        document (CZM-XML puts four on every element), and parsing them all was most of a parse."""
        if self._attrs is None:
            self._attrs = (
                {_local(k)[0]: html.unescape(v1 or v2) for k, v1, v2 in _ATTR.findall(self.attr_text)}
                if "=" in self.attr_text  # an attribute needs its '='
                else {}
            )
        return self._attrs

    @property
    def text(self) -> str:
        return "".join(self.parts).strip()

    def find(self, *path: str) -> Node | None:
        """The first descendant along `path` of child tags (case-sensitive local names)."""
        node: Node | None = self
        for tag in path:
            node = next((c for c in node.children if c.tag == tag), None) if node else None
        return node

    def findall(self, tag: str) -> list[Node]:
        return [c for c in self.children if c.tag == tag]

    def get(self, *path: str) -> str | None:
        node = self.find(*path)
        return node.text if node is not None else None

    def iter(self) -> Iterator[Node]:
        yield self
        for child in self.children:
            yield from child.iter()


@dataclass
class Document:
    root: Node
    closed: bool  # False when the input ended before the root element was closed (truncated)
    prefixes: set[str]


def _local(name: str) -> tuple[str, str]:
    prefix, _, local = name.rpartition(":")
    return local, prefix


_DECLARATION = re.compile(r"^\s*<\?xml[^>]*\?>")


def parse(text: str) -> Document | None:
    """The element tree of `text`, or None when it holds no element at all.

    Well-formed documents (most exports) go through the C parser, several times faster; what it
    rejects (the quirks above) is read by the tolerant tokenizer. Both give the same tree.
    """
    strict = _parse_strict(text)
    return strict if strict is not None else _parse_tolerant(text)


def _parse_strict(text: str) -> Document | None:
    try:
        # The text is already decoded: its declaration (often a wrong "UTF-16") must not be obeyed.
        element = ET.fromstring(_DECLARATION.sub("", text, count=1))  # noqa: S314 - see import
    except (ET.ParseError, ValueError):
        return None
    # Element-name prefixes as written (the C parser resolves them to URIs); callers warn on them.
    prefixes = {p for p in _PREFIX.findall(text) if p}
    return Document(_node(element), closed=True, prefixes=prefixes)


_PREFIX = re.compile(r"<[/\\]?([A-Za-z_][\w.\-]*):[A-Za-z_]")


def _node(element: ET.Element) -> Node:
    tag = element.tag
    if tag[0] == "{":  # {namespace-uri}local
        tag = tag[tag.index("}") + 1 :]
    node = Node(tag)
    node._attrs = {_local(k.rpartition("}")[2])[0]: v for k, v in element.attrib.items()}
    if element.text:
        node.parts.append(element.text)
    for child in element:
        node.children.append(_node(child))
        if child.tail:
            node.parts.append(child.tail)
    return node


def _parse_tolerant(text: str) -> Document | None:
    stack: list[Node] = []
    root: Node | None = None
    closed = False
    prefixes: set[str] = set()
    for match in _TOKEN.finditer(text):
        # One group look-up per token, and the cheap tests first: this loop is most of a parse.
        name, close, attr_text, empty, chunk, cdata = match.group("name", "close", "attrs", "empty", "text", "cdata")
        if name is None:
            if stack:
                if chunk:
                    stack[-1].parts.append(html.unescape(chunk) if "&" in chunk else chunk)
                elif cdata:
                    stack[-1].parts.append(cdata)
            continue
        local = name
        if ":" in name:
            local, prefix = _local(name)
            if prefix:
                prefixes.add(prefix)
        if close:
            # Close the nearest open element of that name; a close nobody opened is noise.
            for depth in range(len(stack) - 1, -1, -1):
                if stack[depth].tag == local:
                    del stack[depth:]
                    break
            if root is not None and not stack:
                closed = True
                break
            continue
        node = Node(local, attr_text or "")
        if stack:
            stack[-1].children.append(node)
        elif root is None:
            root = node
        else:
            break  # a second top-level element: trailing junk
        if empty:
            if node is root:
                closed = True
                break
        else:
            stack.append(node)
    if root is None:
        return None
    return Document(root, closed, prefixes)


_ROOT = re.compile(r"<([A-Za-z_][\w.:\-]*)")


def sniff_root(head: str) -> tuple[str, str] | None:
    """(local name, prefix) of the first element in `head`, skipping prolog and comments; cheap."""
    pos = 0
    while True:
        start = head.find("<", pos)
        if start < 0:
            return None
        nxt = head[start + 1 : start + 2]
        if nxt in ("?", "!"):
            end = head.find(">", start)
            following = head.find("<", start + 1)
            # A malformed PI without '>' ends where the next tag starts.
            pos = following if end < 0 or (0 <= following < end) else end + 1
            if pos <= start:
                return None
            continue
        match = _ROOT.match(head, start)
        if not match:
            pos = start + 1
            continue
        local, prefix = _local(match.group(1))
        return local, prefix


def root_of(raw: bytes) -> tuple[str, str] | None:
    """`sniff_root` over the first KiB of raw bytes, whatever their encoding; never raises."""
    from edge_agent.adapters._common import decode_text, looks_binary

    head = raw[:1024]
    if looks_binary(head):  # DICOM preambles, images, OCT containers: no XML root to find
        return None
    if len(head) % 2 and (head[:2] in (b"\xff\xfe", b"\xfe\xff") or b"\x00" in head[:4]):
        head = head[:-1]
    if b"<" not in head:
        return None  # no element without a '<': in every encoding decode_text picks, '<' holds a 0x3C byte
    text, _ = decode_text(head)
    return sniff_root(text)

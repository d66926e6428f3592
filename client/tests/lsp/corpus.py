"""Drive `cpg lsp` with pygls's language client on real code (a copy of
the Elixir standard library), as an editor would.

Usage: python corpus.py CPG_BINARY WORKSPACE FILE LINE NAME MFA EDITED

For the function MFA, defined on 0-based LINE of FILE (relative to
WORKSPACE) as NAME: references (each with the text its range covers),
call hierarchy both ways, workspace symbols, document symbols and hover;
then an unsaved edit of EDITED that adds a caller after non-ASCII text,
and the references and incoming calls again. Prints one JSON object.
"""

import asyncio
import json
import pathlib
import sys

from lsprotocol import types as t
from pygls.lsp.client import LanguageClient


def utf16(s: str) -> int:
    return len(s.encode("utf-16-le")) // 2


def covered(root: pathlib.Path, texts: dict, loc) -> list:
    """[file, line, start, end, the text the range covers] (UTF-16 units)."""
    path = pathlib.Path(loc.uri.removeprefix("file://"))
    rel = str(path.relative_to(root))
    lines = texts.get(rel) or path.read_text().splitlines()
    units = lines[loc.range.start.line].encode("utf-16-le")
    s, e = loc.range.start.character, loc.range.end.character
    return [rel, loc.range.start.line, s, e, units[2 * s : 2 * e].decode("utf-16-le")]


async def main() -> None:
    cpg, root = sys.argv[1], pathlib.Path(sys.argv[2]).resolve()
    file, line, name, mfa, edited = root / sys.argv[3], int(sys.argv[4]), sys.argv[5], sys.argv[6], root / sys.argv[7]
    text = file.read_text().splitlines()[line]
    at_def = t.Position(line=line, character=utf16(text[: text.index(name, text.index("def"))]))
    doc = lambda p: t.TextDocumentIdentifier(uri=p.as_uri())
    client = LanguageClient("cpg-test", "1")
    published = []

    @client.feature(t.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    def diagnostics(*args):
        published.append(args[-1].uri)

    await client.start_io(cpg, "lsp")
    await client.initialize_async(t.InitializeParams(capabilities=t.ClientCapabilities(), root_uri=root.as_uri()))
    client.initialized(t.InitializedParams())
    texts, out = {}, {}

    async def references():
        refs = await client.text_document_references_async(
            t.ReferenceParams(text_document=doc(file), position=at_def, context=t.ReferenceContext(include_declaration=False))
        )
        return sorted(covered(root, texts, l) for l in refs or [])

    async def hierarchy():
        items = await client.text_document_prepare_call_hierarchy_async(
            t.CallHierarchyPrepareParams(text_document=doc(file), position=at_def)
        )
        incoming = await client.call_hierarchy_incoming_calls_async(t.CallHierarchyIncomingCallsParams(item=items[0]))
        outgoing = await client.call_hierarchy_outgoing_calls_async(t.CallHierarchyOutgoingCallsParams(item=items[0]))
        return [i.name for i in items], sorted(c.from_.name for c in incoming or []), sorted(c.to.name for c in outgoing or [])

    out["references"] = await references()
    out["prepared"], out["incoming"], out["outgoing"] = await hierarchy()
    symbols = await client.workspace_symbol_async(t.WorkspaceSymbolParams(query=name))
    out["workspace_symbols"] = sorted(s.name for s in symbols or [])
    doc_symbols = await client.text_document_document_symbol_async(t.DocumentSymbolParams(text_document=doc(file)))
    out["document_symbols"] = sorted(c.name for s in doc_symbols or [] for c in s.children or [])
    hover = await client.text_document_hover_async(t.HoverParams(text_document=doc(file), position=at_def))
    out["hover"] = hover.contents.value if hover else None

    # An unsaved edit: a module appended to another file, calling the
    # function after non-ASCII text.
    arity = int(mfa.rsplit("/", 1)[1])
    module = mfa.rsplit("/", 1)[0].rsplit(".", 1)[0]
    args = ", ".join(f"a{k}" for k in range(arity))
    call = f'  def probe({args}), do: {{"日本語 𝔸é", {module}.{name}({args})}}'
    before = edited.read_text()
    after = before + f"\ndefmodule CpgEditorProbe do\n{call}\nend\n"
    rel = str(edited.relative_to(root))
    texts[rel] = after.splitlines()
    client.text_document_did_open(
        t.DidOpenTextDocumentParams(text_document=t.TextDocumentItem(uri=edited.as_uri(), language_id="elixir", version=1, text=before))
    )
    client.text_document_did_change(
        t.DidChangeTextDocumentParams(
            text_document=t.VersionedTextDocumentIdentifier(uri=edited.as_uri(), version=2),
            content_changes=[t.TextDocumentContentChangeWholeDocument(text=after)],
        )
    )
    out["references_after_change"] = await references()
    _, out["incoming_after_change"], _ = await hierarchy()
    out["probe_at"] = [rel, len(after.splitlines()) - 2, utf16(call[: call.index(f"{name}({args})")])]

    await client.shutdown_async(None)
    client.exit(None)
    await client.stop()
    print(json.dumps(out))


asyncio.run(main())

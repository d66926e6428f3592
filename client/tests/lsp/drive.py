"""Drive `cpg lsp` with pygls's language client, as an editor would.

Usage: python drive.py CPG_BINARY WORKSPACE [cpg lsp arguments...]

On a copy of the example application: references, definition, call
hierarchy, symbols and hover for Shop.Util.Sorting.sort_key/1; then a new
caller is saved (after a line of non-ASCII text) and the references are
asked again. Prints one JSON object with every answer.
"""

import asyncio
import json
import pathlib
import sys

from lsprotocol import types as t
from pygls.lsp.client import LanguageClient


def utf16(s: str) -> int:
    return len(s.encode("utf-16-le")) // 2


def position(path: pathlib.Path, needle: str, word: str) -> t.Position:
    """The position of `word` inside the first line containing `needle`."""
    for i, line in enumerate(path.read_text().splitlines()):
        if needle in line:
            return t.Position(line=i, character=utf16(line[: line.index(word, line.index(needle))]))
    raise SystemExit(f"{needle!r} not in {path}")


def locations(ls) -> list:
    return sorted(
        [pathlib.Path(l.uri.removeprefix("file://")).name, l.range.start.line, l.range.start.character, l.range.end.character]
        for l in ls or []
    )


async def main() -> None:
    cpg, root = sys.argv[1], pathlib.Path(sys.argv[2]).resolve()
    sorting = root / "lib/shop/util/sorting.ex"
    catalog = root / "lib/shop/catalog.ex"
    doc = lambda p: t.TextDocumentIdentifier(uri=p.as_uri())
    client = LanguageClient("cpg-test", "1")
    diagnostics = {}
    watch_requests = []

    @client.feature(t.CLIENT_REGISTER_CAPABILITY)
    def register(params):
        watch_requests.extend(
            [r.method, [w["globPattern"] for w in r.register_options["watchers"]]] for r in params.registrations
        )

    @client.feature(t.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    def published(*args):
        params = args[-1]
        diagnostics[pathlib.Path(params.uri.removeprefix("file://")).name] = [
            [d.code, d.severity.value if d.severity else None, d.range.start.line, len(d.related_information or [])]
            for d in params.diagnostics
        ]

    await client.start_io(cpg, "lsp", *sys.argv[3:])
    await client.initialize_async(
        t.InitializeParams(
            capabilities=t.ClientCapabilities(
                workspace=t.WorkspaceClientCapabilities(
                    did_change_watched_files=t.DidChangeWatchedFilesClientCapabilities(dynamic_registration=True)
                )
            ),
            root_uri=root.as_uri(),
        )
    )
    client.initialized(t.InitializedParams())
    out = {}

    at_def = position(sorting, "def sort_key", "sort_key")
    refs = await client.text_document_references_async(
        t.ReferenceParams(text_document=doc(sorting), position=at_def, context=t.ReferenceContext(include_declaration=False))
    )
    out["references"] = locations(refs)

    at_call = position(catalog, "sort_key(", "sort_key")
    found = await client.text_document_definition_async(
        t.DefinitionParams(text_document=doc(catalog), position=at_call)
    )
    out["definition"] = locations([found] if isinstance(found, t.Location) else found)

    items = await client.text_document_prepare_call_hierarchy_async(
        t.CallHierarchyPrepareParams(text_document=doc(sorting), position=at_def)
    )
    out["prepared"] = [i.name for i in items or []]
    incoming = await client.call_hierarchy_incoming_calls_async(t.CallHierarchyIncomingCallsParams(item=items[0]))
    out["incoming"] = sorted(c.from_.name for c in incoming or [])
    lp = position(catalog, "def list_products", "list_products")
    lp_items = await client.text_document_prepare_call_hierarchy_async(
        t.CallHierarchyPrepareParams(text_document=doc(catalog), position=lp)
    )
    outgoing = await client.call_hierarchy_outgoing_calls_async(t.CallHierarchyOutgoingCallsParams(item=lp_items[0]))
    out["outgoing"] = sorted(c.to.name for c in outgoing or [])

    symbols = await client.workspace_symbol_async(t.WorkspaceSymbolParams(query="sort_key"))
    out["workspace_symbols"] = sorted(s.name for s in symbols or [])
    doc_symbols = await client.text_document_document_symbol_async(t.DocumentSymbolParams(text_document=doc(sorting)))
    out["document_symbols"] = [[s.name, [c.name for c in s.children or []]] for s in doc_symbols or []]
    hover = await client.text_document_hover_async(t.HoverParams(text_document=doc(sorting), position=at_def))
    out["hover"] = hover.contents.value if hover else None
    try:
        await client.text_document_formatting_async(
            t.DocumentFormattingParams(text_document=doc(sorting), options=t.FormattingOptions(tab_size=2, insert_spaces=True))
        )
        out["unsupported"] = "answered"
    except Exception as e:  # the server's error response
        out["unsupported"] = str(e)
    lenses = await client.text_document_code_lens_async(t.CodeLensParams(text_document=doc(sorting)))
    out["code_lenses_unresolved"] = [l.command is None for l in lenses or []]
    resolved = [await client.code_lens_resolve_async(l) for l in lenses or []]
    out["code_lenses"] = [[l.range.start.line, l.command.title] for l in resolved]
    for _ in range(100):
        if "sorting.ex" in diagnostics and "exporter.ex" in diagnostics:
            break
        await asyncio.sleep(0.05)
    out["diagnostics"] = {k: sorted(v) for k, v in diagnostics.items()}
    # Once the diagnostics are in, hover knows the whole-graph facts too.
    hover = await client.text_document_hover_async(t.HoverParams(text_document=doc(sorting), position=at_def))
    out["hover_after_analysis"] = hover.contents.value if hover else None

    # A new caller, after a line of non-ASCII text, saved.
    fresh = root / "lib/shop/util/fresh.ex"
    text = (
        "defmodule Shop.Util.Fresh do\n"
        "  @moduledoc \"日本語 𝔸 é\"\n"
        "  def pick(k), do: {\"𝔸é\", Shop.Util.Sorting.sort_key(k)}\n"
        "end\n"
    )
    fresh.write_text(text)
    client.text_document_did_open(
        t.DidOpenTextDocumentParams(text_document=t.TextDocumentItem(uri=fresh.as_uri(), language_id="elixir", version=1, text=text))
    )
    client.text_document_did_save(t.DidSaveTextDocumentParams(text_document=doc(fresh)))
    refs = await client.text_document_references_async(
        t.ReferenceParams(text_document=doc(sorting), position=at_def, context=t.ReferenceContext(include_declaration=False))
    )
    out["references_after_save"] = locations(refs)
    line = text.splitlines()[2]
    out["expected_new_character"] = utf16(line[: line.index("sort_key")])

    # An edit not saved: answered from the editor's text; closed without
    # saving, the file's text counts again.
    edited = text.replace("end\n", "  def again(k), do: Shop.Util.Sorting.sort_key(k)\nend\n")
    client.text_document_did_change(
        t.DidChangeTextDocumentParams(
            text_document=t.VersionedTextDocumentIdentifier(uri=fresh.as_uri(), version=2),
            content_changes=[t.TextDocumentContentChangeWholeDocument(text=edited)],
        )
    )
    refs = await client.text_document_references_async(
        t.ReferenceParams(text_document=doc(sorting), position=at_def, context=t.ReferenceContext(include_declaration=False))
    )
    out["references_after_change"] = locations(refs)
    # Broken text (a clause cut short, no `end`): answered from what parsed.
    client.text_document_did_change(
        t.DidChangeTextDocumentParams(
            text_document=t.VersionedTextDocumentIdentifier(uri=fresh.as_uri(), version=3),
            content_changes=[t.TextDocumentContentChangeWholeDocument(text=edited.replace("end\n", "  def broken(k), do: (\n"))],
        )
    )
    refs = await client.text_document_references_async(
        t.ReferenceParams(text_document=doc(sorting), position=at_def, context=t.ReferenceContext(include_declaration=False))
    )
    out["references_with_syntax_error"] = locations(refs)
    client.text_document_did_close(t.DidCloseTextDocumentParams(text_document=doc(fresh)))
    refs = await client.text_document_references_async(
        t.ReferenceParams(text_document=doc(sorting), position=at_def, context=t.ReferenceContext(include_declaration=False))
    )
    out["references_after_close"] = locations(refs)

    # Files changed outside the editor (a branch switched): the client's
    # file watcher reports them together, once the server asked it to.
    out["watch_registered"] = watch_requests
    watched = root / "lib/shop/util/watched.ex"
    watched.write_text("defmodule Shop.Util.Watched do\n  def w(k), do: Shop.Util.Sorting.sort_key(k)\nend\n")
    fresh.unlink()
    client.workspace_did_change_watched_files(
        t.DidChangeWatchedFilesParams(
            changes=[
                t.FileEvent(uri=watched.as_uri(), type=t.FileChangeType.Created),
                t.FileEvent(uri=fresh.as_uri(), type=t.FileChangeType.Deleted),
            ]
        )
    )
    refs = await client.text_document_references_async(
        t.ReferenceParams(text_document=doc(sorting), position=at_def, context=t.ReferenceContext(include_declaration=False))
    )
    out["references_after_watched"] = locations(refs)

    await client.shutdown_async(None)
    client.exit(None)
    await client.stop()
    print(json.dumps(out))


asyncio.run(main())

//! `cpg ingest PATH --file FILE`: only the files named are sent (no walk of
//! the tree), nothing else is added or removed, and what an ingest of one
//! file cannot do (a removal, a dependency's file, a file outside the
//! tree) is refused with the reason.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Output;
use std::time::Duration;

use cluster_tests::{cpg_command, Cluster};

fn cpg(list: &str, args: &[&str], files: &[&Path]) -> Output {
    let mut c = cpg_command();
    c.args(["--coordinator", list]).args(args);
    for f in files {
        c.arg("--file").arg(f);
    }
    c.output().unwrap()
}

fn said(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ingest_of_named_files_sends_them_and_nothing_else() {
    let _machine = crate::shared().await;
    let cluster = Cluster::local(1, 2, 8, 2);
    cluster.must_be_ready(8, Duration::from_secs(60)).await;
    let list = cluster.coordinator_list();
    let (_work, tree) = cluster_tests::example_copy();
    let whole = cpg(&list, &["ingest", tree.to_str().unwrap()], &[]);
    assert!(whole.status.success(), "{}", said(&whole));

    // A function added to one file; another file deleted from the disk.
    let cart = tree.join("lib/shop/cart.ex");
    let text = std::fs::read_to_string(&cart).unwrap();
    let end = text.rfind("end").unwrap();
    let changed = format!(
        "{}  def partial_probe(x), do: String.upcase(x)\n{}",
        &text[..end],
        &text[end..]
    );
    std::fs::write(&cart, changed).unwrap();
    let discounts = tree.join("lib/shop/discounts.ex");
    std::fs::remove_file(&discounts).unwrap();

    let out = cpg(&list, &["ingest", tree.to_str().unwrap()], &[&cart]);
    assert!(out.status.success(), "{}", said(&out));
    assert!(
        said(&out).starts_with("1 files: 1 parsed, 0 unchanged, 0 removed"),
        "{}",
        said(&out)
    );
    let callees = cpg(&list, &["callees", "Shop.Cart.partial_probe/1"], &[]);
    assert!(said(&callees).contains("upcase"), "{}", said(&callees));
    // The deleted file's module is still there: nothing was removed.
    let kept = cpg(&list, &["callees", "Shop.Discounts.eligible?/1"], &[]);
    assert!(kept.status.success(), "{}", said(&kept));
    assert!(said(&kept).contains("subtotal"), "{}", said(&kept));

    // Refused, each with its reason, and nothing sent.
    let outside = tempfile::NamedTempFile::with_suffix(".ex").unwrap();
    let notes = tree.join("lib/notes.txt");
    std::fs::write(&notes, "not code").unwrap();
    for (file, reason) in [
        (discounts.as_path(), "a file removed from the tree"),
        (outside.path(), "not under"),
        (notes.as_path(), "not an Elixir file"),
    ] {
        let out = cpg(&list, &["ingest", tree.to_str().unwrap()], &[file]);
        assert!(!out.status.success(), "{}", said(&out));
        assert!(said(&out).contains(reason), "{file:?}: {}", said(&out));
    }
    let dep = tree.join("deps/jason/lib/jason.ex");
    std::fs::create_dir_all(dep.parent().unwrap()).unwrap();
    std::fs::write(&dep, "defmodule Jason do\nend\n").unwrap();
    let out = cpg(&list, &["ingest", tree.to_str().unwrap()], &[&dep]);
    assert!(
        said(&out).contains("ingest the whole tree"),
        "{}",
        said(&out)
    );
    std::fs::remove_dir_all(tree.join("deps")).unwrap();

    // The whole tree's ingest removes the deleted file.
    let whole = cpg(&list, &["ingest", tree.to_str().unwrap()], &[]);
    assert!(said(&whole).contains("1 removed"), "{}", said(&whole));
}

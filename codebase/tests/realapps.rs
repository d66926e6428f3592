//! Integration tests on real code nobody here wrote: two open-source Phoenix
//! applications with the source of their locked dependencies under deps/
//! (../shared/realapps, unpacked unchanged by scripts/fetch-realapps.sh,
//! which these tests run; if it fails the tests fail). Facts below were
//! checked by reading the applications' source.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use codebase::embedded::{self, Built, Deps};
use proto::{Answer, ModuleSummary, Query, QueryResult};
use query::report::{call_rows, CallRow};
use query::{answer, Snapshot};

struct App {
    built: Built,
    snapshot: Snapshot,
    rows: Vec<CallRow>,
}

fn root() -> PathBuf {
    static ROOT: OnceLock<PathBuf> = OnceLock::new();
    ROOT.get_or_init(|| support::fetched("fetch-realapps.sh"))
        .clone()
}

fn app(name: &str) -> &'static App {
    static NERVES: OnceLock<App> = OnceLock::new();
    static REALTIME: OnceLock<App> = OnceLock::new();
    let cell = if name == "realtime" {
        &REALTIME
    } else {
        &NERVES
    };
    cell.get_or_init(|| {
        let built = embedded::build_with(&root().join(name), Deps::Library).expect("build");
        let snapshot = built.snapshot();
        let rows = call_rows(&snapshot.graph);
        App {
            built,
            snapshot,
            rows,
        }
    })
}

/// Every fragment the front end builds from the applications and their
/// dependencies' source is one a node takes (the check that refuses
/// malformed writes).
#[test]
fn every_fragment_of_the_applications_and_their_dependencies_is_well_formed() {
    for name in ["nerves_hub_web", "realtime"] {
        let root = root().join(name);
        let files = embedded::discover_with(&root, Deps::Include).expect("the application's files");
        let refused = support::refused_fragments(&files);
        assert!(refused.is_empty(), "{name}: {refused:#?}");
        assert!(files.len() > 200, "{name}: {} files", files.len());
    }
}

fn share_unresolved(a: &App) -> f64 {
    let unresolved = a.rows.iter().filter(|r| r.kind == "unresolved").count();
    unresolved as f64 / a.rows.len() as f64
}

/// Unresolved call sites (no provider known; never a guess): at most 1%.
/// Calls resolved into a known module that does not define the function
/// (the target is none): what is left is printed (`--nocapture`) and
/// bounded here so that it cannot grow.
#[test]
fn nearly_every_call_site_resolves_and_none_into_a_module_without_the_function() {
    for (name, max_unresolved, max_undefined) in
        [("realtime", 0.01, 6), ("nerves_hub_web", 0.01, 2)]
    {
        let a = app(name);
        assert!(
            a.built.libraries.summaries.len() > 1000,
            "{name}: only {} library modules from deps/",
            a.built.libraries.summaries.len()
        );
        // Every `.heex` template's code parses (its calls are all known).
        let templates: Vec<&proto::Diagnostic> = a
            .built
            .diagnostics
            .iter()
            .filter(|d| d.file.ends_with(".heex"))
            .collect();
        assert!(templates.is_empty(), "{name}: {templates:?}");
        let share = share_unresolved(a);
        let undefined: Vec<String> = a
            .rows
            .iter()
            .filter(|r| r.undefined)
            .map(|r| {
                format!(
                    "{}.{}/{} at {}:{}",
                    r.callee_module, r.callee_function, r.callee_arity, r.file, r.line
                )
            })
            .collect();
        println!(
            "{name}: {} call sites, {:.2}% unresolved, {} into a module without the function: {undefined:#?}",
            a.rows.len(),
            100.0 * share,
            undefined.len()
        );
        assert!(
            share <= max_unresolved,
            "{name}: {:.2}% unresolved",
            100.0 * share
        );
        assert!(undefined.len() <= max_undefined, "{name}: {undefined:#?}");
        // Unresolved calls name the imports they might come from, or none.
        assert!(a
            .rows
            .iter()
            .filter(|r| r.kind == "unresolved")
            .all(|r| r.callee_module.is_empty()));
    }
}

fn has(a: &App, caller: (&str, &str), callee: &str, kind: &str, line: u32) -> bool {
    let callee: proto::Mfa = callee.parse().unwrap();
    a.rows.iter().any(|r| {
        r.caller_module == caller.0
            && r.caller_function == caller.1
            && r.callee_module == callee.module
            && r.callee_function == callee.name
            && r.callee_arity == callee.arity
            && r.kind == kind
            && r.line == line
    })
}

#[test]
fn calls_into_phoenix_ecto_and_exunit_resolve_as_the_compiler_does() {
    let a = app("realtime");
    // `use RealtimeWeb, :controller` → `use Phoenix.Controller`, which imports it.
    assert!(has(
        a,
        ("RealtimeWeb.PingController", "ping"),
        "Phoenix.Controller.json/2",
        "imported",
        5
    ));
    // `import Ecto.Query` in Realtime.Api.
    assert!(has(
        a,
        ("Realtime.Api", "list_extensions"),
        "Ecto.Query.from/2",
        "imported",
        241
    ));
    // ExUnit through a case template (RealtimeWeb.ConnCase) and Phoenix.ConnTest.
    let test = "RealtimeWeb.PageControllerTest";
    assert!(has(
        a,
        (test, "__module__"),
        "ExUnit.Assertions.assert/1",
        "imported",
        8
    ));
    assert!(has(
        a,
        (test, "__module__"),
        "Phoenix.ConnTest.get/2",
        "imported",
        7
    ));
    // A colocated LiveView template (live/support_scripts/edit.html.heex,
    // line 3: `<.breadcrumb ...>`) is the LiveView's render/1, its
    // component imported through `use NervesHubWeb, :live_view`.
    let nerves = app("nerves_hub_web");
    assert!(has(
        nerves,
        ("NervesHubWeb.Live.SupportScripts.Edit", "render"),
        "NervesHubWeb.Components.Breadcrumb.breadcrumb/1",
        "imported",
        3
    ));
    assert!(nerves.rows.iter().any(|r| r.file
        == "lib/nerves_hub_web/live/support_scripts/edit.html.heex"
        && r.caller_function == "render"));
}

fn dead(a: &App) -> BTreeSet<String> {
    let Answer { result, .. } = answer(
        &a.snapshot,
        &Query::DeadCode {
            entries: Vec::new(),
        },
    )
    .unwrap();
    let QueryResult::DeadCode(dead) = &*result else {
        panic!("not a dead-code answer")
    };
    dead.iter().map(|d| d.mfa.to_string()).collect()
}

#[test]
fn routed_actions_and_framework_callbacks_are_not_dead() {
    let a = app("realtime");
    let dead = dead(a);
    // router.ex: get("/ping", PingController, :ping) in scope "/api", RealtimeWeb;
    // resources("/tenants", TenantController, except: [:edit, :new]).
    for f in [
        "RealtimeWeb.PingController.ping/2",
        "RealtimeWeb.PageController.healthcheck/2",
        "RealtimeWeb.TenantController.index/2",
        "RealtimeWeb.TenantController.show/2",
        "RealtimeWeb.TenantController.reload/2",
    ] {
        assert!(!dead.contains(f), "{f} reported dead");
        let callers = a.snapshot.graph.callers(&f.parse().unwrap(), 1);
        assert!(
            callers
                .iter()
                .any(|r| r.mfa.to_string() == "RealtimeWeb.Router.call/2"),
            "{f}: the router does not call it: {callers:?}"
        );
    }
    // Ecto migrations' change/0 is called by the migration runner.
    assert!(!dead.iter().any(|d| d.ends_with(".change/0")));
    let realtime_dead = dead.len();
    let nerves = app("nerves_hub_web");
    let dead = self::dead(nerves);
    // A LiveView's callbacks (`use NervesHubWeb, :live_view`) and a routed
    // controller action.
    for f in [
        "NervesHubWeb.Live.Devices.Index.mount/3",
        "NervesHubWeb.Live.Devices.Index.handle_event/3",
        "NervesHubWeb.API.DeviceController.show/2",
        // Function components used only in HEEx template files.
        "NervesHubWeb.Components.Breadcrumb.breadcrumb/1",
        // A root layout named by `put_root_layout html: {Layouts, :root}`.
        "NervesHubWeb.Layouts.root/1",
    ] {
        assert!(!dead.contains(f), "{f} reported dead");
    }
    println!(
        "dead code: realtime {realtime_dead}, nerves_hub_web {} functions",
        dead.len()
    );
}

#[test]
fn dependencies_are_library_code_left_out_of_reports() {
    let a = app("realtime");
    assert!(a
        .snapshot
        .summaries
        .iter()
        .all(|m| !m.file.starts_with("deps/")));
    assert!(a.rows.iter().all(|r| !r.file.starts_with("deps/")));
    // A standard-library deprecation, from the table (Elixir 1.15 moved
    // Logger backends to a package): lib/realtime/application.ex:31.
    let deprecated: Vec<String> = a
        .rows
        .iter()
        .filter(|r| r.deprecated.is_some())
        .map(|r| {
            format!(
                "{}.{}/{} at {}:{}",
                r.callee_module, r.callee_function, r.callee_arity, r.file, r.line
            )
        })
        .collect();
    assert_eq!(
        deprecated,
        vec!["Logger.add_backend/1 at lib/realtime/application.ex:31"]
    );
    // ... and counted as such, by package, in the report.
    assert!(a.built.libraries.files > 1000);
    let Answer { result, .. } = answer(&a.snapshot, &Query::Analyze { top: 3 }).unwrap();
    let QueryResult::Analyze(report) = &*result else {
        panic!("not a report")
    };
    let phoenix = report.libraries.iter().find(|l| l.package == "phoenix");
    assert!(
        phoenix.is_some_and(|p| p.modules > 50 && p.files > 50),
        "{phoenix:?}"
    );
    assert!(report.libraries.len() > 50);
}

/// Taint on a real application: a controller planted beside its code
/// (routed by a planted router that `use`s the application's own router
/// definition) passes a request parameter into the application's
/// `Repo.query` — found, through the application's `use` chains into
/// Phoenix and Ecto; the same flow behind an allowlist check is not, unless
/// the rules stop counting that check.
/// The application's summaries with those of the `planted` files (each
/// must parse cleanly) added, and the call graph linked from them.
fn planted_in(
    a: &App,
    planted: &[(&str, &str)],
) -> (Vec<Arc<ModuleSummary>>, partition::analysis::CallGraph) {
    let mut summaries = a.snapshot.summaries.clone();
    for (file, text) in planted {
        let cpg = partition::frontend::build_file(file, text.as_bytes());
        assert!(cpg.diagnostics.is_empty(), "{file}: {:?}", cpg.diagnostics);
        summaries.extend(
            cpg.fragments
                .iter()
                .map(|f| Arc::new(partition::summary::summarize(f))),
        );
    }
    let graph = partition::analysis::CallGraph::link(&summaries, &a.snapshot.libraries);
    (summaries, graph)
}

#[test]
fn a_planted_sql_injection_is_found_and_an_allowlisted_one_is_not() {
    for (name, web, repo) in [
        ("realtime", "RealtimeWeb", "Realtime.Repo"),
        ("nerves_hub_web", "NervesHubWeb", "NervesHub.Repo"),
    ] {
        let a = app(name);
        let router = format!(
            r#"defmodule {web}.PlantedRouter do
  use {web}, :router
  scope "/planted", {web} do
    get "/:id", PlantedController, :show
    get "/sorted/:by", PlantedController, :sorted
  end
end
"#
        );
        let controller = format!(
            r#"defmodule {web}.PlantedController do
  use {web}, :controller
  alias {repo}
  @columns ~w(inserted_at name)

  def show(conn, %{{"id" => id}}) do
    {{:ok, result}} = Repo.query("SELECT * FROM t WHERE id = '#{{id}}'")
    json(conn, result.rows)
  end

  def sorted(conn, %{{"by" => by}}) do
    if by in @columns do
      Repo.query("SELECT * FROM t ORDER BY #{{by}}")
    end
    json(conn, [])
  end
end
"#
        );
        let (summaries, graph) = planted_in(
            a,
            &[
                ("lib/planted_router.ex", router.as_str()),
                ("lib/planted_controller.ex", controller.as_str()),
            ],
        );
        let planted = |rules: &proto::TaintRules| -> Vec<String> {
            partition::analysis::taint(&graph, &summaries, rules)
                .findings
                .iter()
                .filter(|f| {
                    f.steps
                        .iter()
                        .any(|s| s.file == "lib/planted_controller.ex")
                })
                .map(|f| {
                    let first = &f.steps[0];
                    let last = f.steps.last().unwrap();
                    format!(
                        "{} -> {} ({}) at {}:{}",
                        first.what, f.sink_call, f.sink, last.file, last.line
                    )
                })
                .collect()
        };
        let rules = partition::analysis::default_taint_rules();
        let found = planted(&rules);
        assert_eq!(
            found,
            vec![format!(
                "source: parameter 1 of {web}.PlantedController.show/2 -> {repo}.query/1 (raw SQL) at lib/planted_controller.ex:7"
            )],
            "{name}"
        );
        // Without the membership check the guarded flow is a finding too:
        // the check, not something else, is what keeps it out.
        let mut unchecked = rules.clone();
        for s in &mut unchecked.sanitizers {
            s.checks.retain(|c| c != "membership");
        }
        assert_eq!(
            planted(&unchecked).len(),
            2,
            "{name}: {:?}",
            planted(&unchecked)
        );
    }
}

#[derive(Debug, serde::Deserialize)]
struct Labels {
    finding: Vec<Label>,
}

#[derive(Debug, serde::Deserialize)]
struct Label {
    app: String,
    key: String,
    verdict: String,
    reason: String,
}

/// A finding as the labels name it.
fn label_key(f: &proto::TaintFinding) -> String {
    let (first, last) = (&f.steps[0], f.steps.last().expect("a sink step"));
    format!(
        "{} -> {} ({}) at {}:{} from {}:{}",
        f.source, f.sink, f.sink_call, last.file, last.line, first.file, first.line
    )
}

/// Every finding of the default rules is labelled (true, intended or false,
/// with the reason, in taint_labels.toml), every true and intended one is
/// still found, and no label is stale; precision and median steps per
/// application are printed (`--nocapture`).
#[test]
fn taint_findings_are_labelled() {
    let labels: Labels = toml::from_str(include_str!("taint_labels.toml")).expect("labels parse");
    let rules = partition::analysis::default_taint_rules();
    let example =
        embedded::build(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/shop"))
            .expect("the example builds")
            .snapshot();
    let mut problems = Vec::new();
    for (name, snapshot) in [
        ("example", &example),
        ("nerves_hub_web", &app("nerves_hub_web").snapshot),
        ("realtime", &app("realtime").snapshot),
    ] {
        let Ok(a) = answer(
            snapshot,
            &Query::Taint {
                rules: rules.clone(),
            },
        ) else {
            panic!("{name}: taint failed");
        };
        let QueryResult::Taint(t) = &*a.result else {
            panic!("{name}: not a taint answer");
        };
        let mine: Vec<&Label> = labels.finding.iter().filter(|l| l.app == name).collect();
        let found: Vec<String> = t.findings.iter().map(label_key).collect();
        for k in &found {
            if !mine.iter().any(|l| &l.key == k) {
                problems.push(format!("{name}: unlabelled finding: {k}"));
            }
        }
        for l in &mine {
            assert!(
                matches!(l.verdict.as_str(), "true" | "intended" | "false") && !l.reason.is_empty(),
                "{l:?}"
            );
            if !found.contains(&l.key) {
                problems.push(match l.verdict.as_str() {
                    "false" => format!(
                        "{name}: a false positive is gone, remove its label: {}",
                        l.key
                    ),
                    v => format!("{name}: a {v} finding disappeared: {}", l.key),
                });
            }
        }
        let right = mine
            .iter()
            .filter(|l| l.verdict != "false" && found.contains(&l.key))
            .count();
        let mut steps: Vec<usize> = t.findings.iter().map(|f| f.steps.len()).collect();
        steps.sort_unstable();
        println!(
            "{name}: {} findings, {right} true or intended: precision {:.0}%, median steps {}",
            found.len(),
            100.0 * right as f64 / found.len().max(1) as f64,
            steps.get(steps.len() / 2).copied().unwrap_or(0)
        );
    }
    assert!(problems.is_empty(), "{problems:#?}");
}

/// Recall on real code: ten vulnerable flows planted in a copy of
/// nerves_hub_web (its own `use NervesHubWeb, :controller` / `:live_view`
/// chains, its router macros, its Repo), through a controller, a LiveView
/// event, a GenServer and an Oban job, each into a different sink. Every one
/// must be found, and nothing else in the planted files.
#[test]
fn ten_planted_flows_in_a_real_application_are_all_found() {
    let a = app("nerves_hub_web");
    let planted = [
        (
            "lib/planted/router.ex",
            r#"defmodule NervesHubWeb.PlantedRouter do
  use NervesHubWeb, :router
  scope "/planted", NervesHubWeb do
    get "/atom", PlantedController, :atom
    get "/sql", PlantedController, :sql
    get "/read", PlantedController, :read
    get "/shell", PlantedController, :shell
    get "/html", PlantedController, :html
    get "/term", PlantedController, :term
    get "/go", PlantedController, :go
    get "/job", PlantedController, :job
    get "/run", PlantedController, :run
    live "/planted/live", PlantedLive
  end
end
"#,
        ),
        (
            "lib/planted/controller.ex",
            r#"defmodule NervesHubWeb.PlantedController do
  use NervesHubWeb, :controller
  alias NervesHub.Repo

  def atom(conn, %{"kind" => kind}) do
    json(conn, %{kind: String.to_atom(kind)})
  end

  def sql(conn, params) do
    {:ok, result} = Repo.query("SELECT * FROM devices WHERE tag = '#{params["tag"]}'")
    json(conn, result.rows)
  end

  def read(conn, %{"file" => file}) do
    send_resp(conn, 200, File.read!(Path.join("/srv/reports", file)))
  end

  def shell(conn, %{"host" => host}) do
    {out, _} = System.shell("ping -c 1 " <> host)
    text(conn, out)
  end

  def html(conn, %{"name" => name}) do
    html(conn, Phoenix.HTML.safe_to_string(Phoenix.HTML.raw("<b>" <> name <> "</b>")))
  end

  def term(conn, %{"blob" => blob}) do
    json(conn, %{value: inspect(:erlang.binary_to_term(Base.decode64!(blob)))})
  end

  def go(conn, %{"next" => next}) do
    redirect(conn, external: next)
  end

  def job(conn, %{"path" => path}) do
    %{"path" => path} |> NervesHub.Workers.PlantedCleanup.new() |> Oban.insert()
    json(conn, %{})
  end

  def run(conn, %{"cmd" => cmd}) do
    NervesHub.PlantedRunner.run(cmd)
    json(conn, %{})
  end
end
"#,
        ),
        (
            "lib/planted/live.ex",
            r#"defmodule NervesHubWeb.PlantedLive do
  use NervesHubWeb, :live_view

  def render(assigns), do: ~H"<div></div>"

  def handle_event("pick", %{"field" => field}, socket) do
    {:noreply, assign(socket, :field, String.to_atom(field))}
  end
end
"#,
        ),
        (
            "lib/planted/runner.ex",
            r#"defmodule NervesHub.PlantedRunner do
  use GenServer

  def start_link(_), do: GenServer.start_link(__MODULE__, nil, name: __MODULE__)
  def init(state), do: {:ok, state}
  def run(cmd), do: GenServer.cast(__MODULE__, {:run, cmd})

  def handle_cast({:run, cmd}, state) do
    :os.cmd(String.to_charlist(cmd))
    {:noreply, state}
  end
end
"#,
        ),
        (
            "lib/planted/cleanup.ex",
            r#"defmodule NervesHub.Workers.PlantedCleanup do
  use Oban.Worker, queue: :default

  @impl Oban.Worker
  def perform(%Oban.Job{args: %{"path" => path}}) do
    File.rm_rf!(path)
    :ok
  end
end
"#,
        ),
    ];
    let (summaries, graph) = planted_in(a, &planted);
    let rules = partition::analysis::default_taint_rules();
    let t = partition::analysis::taint(&graph, &summaries, &rules);
    let mut found: Vec<String> = t
        .findings
        .iter()
        .filter(|f| f.steps.iter().any(|s| s.file.starts_with("lib/planted/")))
        .map(|f| {
            let last = f.steps.last().unwrap();
            format!(
                "{} -> {} at {}:{}",
                f.source, f.sink_call, last.file, last.line
            )
        })
        .collect();
    found.sort();
    let want = [
        "request parameters -> :erlang.binary_to_term/1 at lib/planted/controller.ex:28",
        "request parameters -> :os.cmd/1 at lib/planted/runner.ex:9",
        "request parameters -> File.read!/1 at lib/planted/controller.ex:15",
        "request parameters -> File.rm_rf!/1 at lib/planted/cleanup.ex:6",
        "request parameters -> NervesHub.Repo.query/1 at lib/planted/controller.ex:10",
        "request parameters -> Phoenix.Controller.redirect/2 at lib/planted/controller.ex:32",
        "request parameters -> Phoenix.HTML.raw/1 at lib/planted/controller.ex:24",
        "request parameters -> String.to_atom/1 at lib/planted/controller.ex:6",
        "request parameters -> String.to_atom/1 at lib/planted/live.ex:7",
        "request parameters -> System.shell/1 at lib/planted/controller.ex:19",
    ];
    let missing: Vec<&&str> = want
        .iter()
        .filter(|w| !found.iter().any(|f| f == *w))
        .collect();
    let extra: Vec<&String> = found
        .iter()
        .filter(|f| !want.contains(&f.as_str()))
        .collect();
    println!(
        "planted: {} of {} found",
        want.len() - missing.len(),
        want.len()
    );
    assert!(
        missing.is_empty() && extra.is_empty(),
        "missing {missing:#?}\nextra {extra:#?}\nall {found:#?}"
    );
}

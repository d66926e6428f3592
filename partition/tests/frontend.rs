//! Front-end fixtures: an Elixir snippet in, the CPG facts out as a readable
//! snapshot (`UPDATE_EXPECT=1 cargo test -p partition --test frontend`
//! rewrites them; review the diff). Every construct the front end models has
//! one here.

mod support;

use expect_test::{expect, Expect};
use partition::frontend::build_file;
use support::{render_file, Sections};

const NONE: Sections = Sections {
    functions: false,
    calls: false,
    deps: false,
    cfg: false,
    dfg: false,
};
const CALLS: Sections = Sections {
    functions: true,
    calls: true,
    deps: true,
    ..NONE
};
const CFG: Sections = Sections { cfg: true, ..NONE };
const DFG: Sections = Sections { dfg: true, ..NONE };

fn check(sections: Sections, src: &str, expect: Expect) {
    let cpg = build_file("fixture.ex", src.as_bytes());
    expect.assert_eq(&render_file(&cpg, sections));
}

#[test]
fn modules_nested_several_per_file_and_auto_alias() {
    check(
        CALLS,
        r#"
defmodule Outer do
  defmodule Inner do
    def f, do: :ok
  end
  def g, do: Inner.f()
end
defmodule Other do
  def h, do: Outer.Inner.f()
end
"#,
        expect![[r#"
            module Outer.Inner (fixture.ex:3)
              def f/0 clauses=1 nesting=0
            module Outer (fixture.ex:2)
              def g/0 clauses=1 nesting=0
                call g/0 -> Outer.Inner.f/0 (remote) @6
            module Other (fixture.ex:8)
              def h/0 clauses=1 nesting=0
                call h/0 -> Outer.Inner.f/0 (remote) @9
        "#]],
    );
}

#[test]
fn protocols_impls_structs_and_exceptions() {
    check(
        CALLS,
        r#"
defprotocol Shape do
  def area(shape)
end
defmodule Square do
  defstruct side: 1
  defimpl Shape do
    def area(%{side: s}), do: s * s
  end
end
defimpl Shape, for: [Map, List] do
  def area(_), do: 0
end
defmodule Oops do
  defexception message: "oops"
end
"#,
        expect![[r#"
            protocol Shape (fixture.ex:2)
              generated __protocol__/1 clauses=0 nesting=0
              generated impl_for/1 clauses=0 nesting=0
              generated impl_for!/1 clauses=0 nesting=0
              protocol area/1 clauses=0 nesting=0
            impl Shape.Square (fixture.ex:7)
              implements Shape for Square
              dep impl Shape @7
              dep impl_for Square @7
              behaviour Shape
              def area/1 clauses=1 nesting=0
            module Square (fixture.ex:5)
              generated __struct__/0 clauses=0 nesting=0
              generated __struct__/1 clauses=0 nesting=0
                call __struct__/1 -> Enum.reduce/3 (macro) @6
            impl Shape.Map (fixture.ex:11)
              implements Shape for Map
              dep impl Shape @11
              dep impl_for Map @11
              behaviour Shape
              def area/1 clauses=1 nesting=0
            impl Shape.List (fixture.ex:11)
              implements Shape for List
              dep impl Shape @11
              dep impl_for List @11
              behaviour Shape
              def area/1 clauses=1 nesting=0
            module Oops (fixture.ex:14)
              generated __struct__/0 clauses=0 nesting=0
              generated __struct__/1 clauses=0 nesting=0
                call __struct__/1 -> Enum.reduce/3 (macro) @15
              generated exception/1 clauses=0 nesting=0
                call exception/1 -> Enum.split_with/2 (macro) @15
                call exception/1 -> IO.warn/1 (macro) @15
                call exception/1 -> Kernel.inspect/1 (macro) @15
                call exception/1 -> Kernel.struct!/2 (macro) @15
        "#]],
    );
}

#[test]
fn default_arguments_multi_clause_functions_and_guards() {
    check(
        CALLS,
        r#"
defmodule Fun do
  def greet(name, greeting \\ "hi", punct \\ "!")
  def greet(name, greeting, punct) when is_binary(name), do: greeting <> name <> punct
  def greet(_, _, _), do: :error
  defp secret(x) when x > 0 and is_integer(x), do: x
  def member(x, xs) when x in @small or x in [1, 2], do: x in xs
  defmacro m(x), do: x
  defguard is_pos(x) when x > 0
  defdelegate size(map), to: Kernel, as: :map_size
end
"#,
        expect![[r#"
            module Fun (fixture.ex:2)
              def greet/3 clauses=2 nesting=0
                call greet/3 -> Kernel.is_binary/1 (imported) @4
              def greet/1 clauses=0 nesting=0 default_of/3
                call greet/1 -> Fun.greet/3 (local) @3
              def greet/2 clauses=0 nesting=0 default_of/3
                call greet/2 -> Fun.greet/3 (local) @3
              defp secret/1 clauses=1 nesting=0
                call secret/1 -> Kernel.is_integer/1 (imported) @6
              def member/2 clauses=1 nesting=0
                call member/2 -> Enum.member?/2 (remote) @7
              defmacro m/1 clauses=1 nesting=0
              defguard is_pos/1 clauses=0 nesting=0
              defdelegate size/1 clauses=0 nesting=0
                call size/1 -> Kernel.map_size/1 (remote) @10
        "#]],
    );
}

#[test]
fn calls_through_aliases_imports_module_and_pipes() {
    check(
        CALLS,
        r#"
defmodule App.Web do
  alias App.Repo
  alias App.Accounts.User, as: U
  alias App.{Mailer, Cache.Store}
  alias __MODULE__.Helpers
  import Enum, only: [map: 2]
  import String, except: [trim: 1]
  def run(xs) do
    Repo.all(U)
    Mailer.send(Store.get(:k))
    Helpers.help()
    __MODULE__.run([])
    map(xs, fn x -> x end)
    xs |> Enum.filter(& &1) |> length()
    "a" |> upcase
    trim(" a ")
  end
end
"#,
        expect![[r#"
            module App.Web (fixture.ex:2)
              dep alias App.Repo @3
              dep alias App.Accounts.User @4
              dep alias App.Mailer @5
              dep alias App.Cache.Store @5
              dep alias App.Web.Helpers @6
              dep import Enum @7
              dep import String @8
              def run/1 clauses=1 nesting=1
                call run/1 -> App.Repo.all/1 (remote) @10
                call run/1 -> App.Cache.Store.get/1 (remote) @11
                call run/1 -> App.Mailer.send/1 (remote) @11
                call run/1 -> App.Web.Helpers.help/0 (remote) @12
                call run/1 -> App.Web.run/1 (remote) @13
                call run/1 -> Enum.map/2 (imported) @14
                call run/1 -> Enum.filter/2 (remote) @15
                call run/1 -> Kernel.length/1 (imported) @15
                call run/1 -> String.upcase/1 (imported) @16 candidates=String
                call run/1 -> ?.trim/1 (unresolved) @17
        "#]],
    );
}

#[test]
fn captures_erlang_dynamic_and_delegated_calls() {
    check(
        CALLS,
        r#"
defmodule Cap do
  def run(t, mod, fun) do
    a = &Enum.count/1
    b = &helper/2
    c = &String.pad_leading(&1, 3)
    d = &(&1 in t)
    :ets.insert(t, {a, b, c, d})
    apply(mod, fun, [])
    mod.start()
    fun.(1)
    Kernel.apply(mod, :x, [])
  end
  defp helper(x, y), do: {x, y}
end
"#,
        expect![[r#"
            module Cap (fixture.ex:2)
              def run/3 clauses=1 nesting=0
                call run/3 -> Enum.count/1 (remote) @4
                call run/3 -> Cap.helper/2 (local) @5
                call run/3 -> String.pad_leading/2 (remote) @6
                call run/3 -> Enum.member?/2 (remote) @7
                call run/3 -> :ets.insert/2 (erlang) @8
                call run/3 -> Kernel.apply/3 (dynamic) @9
                call run/3 -> ?.start/0 (dynamic) @10
                call run/3 -> ?.fun/1 (dynamic) @11
                call run/3 -> Kernel.apply/3 (dynamic) @12
              defp helper/2 clauses=1 nesting=0
        "#]],
    );
}

#[test]
fn calls_the_compiler_generates_from_syntax() {
    check(
        CALLS,
        r#"
defmodule Implied do
  def run(x, opts) do
    s = "v=#{x} #{inspect(x)} #{"lit"}"
    c = 'c#{x}'
    a = :"key_#{x}"
    v = opts[:key]
    if x in opts, do: raise(ArgumentError, "bad"), else: raise("worse")
    {s, c, a, v}
  end
end
"#,
        expect![[r#"
            module Implied (fixture.ex:2)
              def run/2 clauses=1 nesting=1
                call run/2 -> String.Chars.to_string/1 (remote) @4
                call run/2 -> Kernel.inspect/1 (imported) @4
                call run/2 -> String.Chars.to_string/1 (remote) @5
                call run/2 -> List.to_charlist/1 (remote) @5
                call run/2 -> String.Chars.to_string/1 (remote) @6
                call run/2 -> :erlang.binary_to_atom/2 (erlang) @6
                call run/2 -> Access.get/2 (remote) @7
                call run/2 -> Enum.member?/2 (remote) @8
                call run/2 -> ArgumentError.exception/1 (remote) @8
                call run/2 -> Kernel.raise/2 (imported) @8
                call run/2 -> RuntimeError.exception/1 (remote) @8
                call run/2 -> Kernel.raise/1 (imported) @8
        "#]],
    );
}

#[test]
fn dependencies_of_every_kind() {
    check(
        CALLS,
        r#"
defmodule Deps do
  use GenServer
  require Logger
  import Bitwise
  alias Deps.Store
  @behaviour Deps.Plugin
  @impl true
  def init(s), do: {:ok, %Store{}}
end
"#,
        expect![[r#"
            module Deps (fixture.ex:2)
              dep use GenServer @3
              dep behaviour GenServer @3
              dep require Logger @4
              dep import Bitwise @5
              dep alias Deps.Store @6
              dep behaviour Deps.Plugin @7
              dep struct Deps.Store @9
              behaviour GenServer
              behaviour Deps.Plugin
              generated child_spec/1 clauses=0 nesting=0
                call child_spec/1 -> Supervisor.child_spec/2 (macro) @3
              def init/1 clauses=1 nesting=0 callback
              module_body __module__/0 clauses=0 nesting=0
                call __module__/0 -> GenServer.__using__/1 (remote) @3
        "#]],
    );
}

#[test]
fn cfg_case_if_unless_and_cond() {
    check(
        CFG,
        r#"
defmodule C do
  def f(x) do
    case x do
      1 -> :one
      _ -> :other
    end
    if x, do: :yes, else: :no
    unless x, do: :no
    cond do
      x > 1 -> :big
      true -> :small
    end
  end
end
"#,
        expect![[r#"
            module C (fixture.ex:2)
                cfg f/1#0
                  entry @3:2 -> parameter x @3:8
                  parameter x @3:8 -> use x @4:9
                  use x @4:9 -> case case @4:4
                  case case @4:4 -> clause @5:6 [clause 0]
                  clause @5:6 -> literal :one @5:11
                  case case @4:4 -> clause @6:6 [clause 1]
                  clause @6:6 -> literal :other @6:11
                  literal :one @5:11 -> use x @8:7
                  literal :other @6:11 -> use x @8:7
                  use x @8:7 -> if if @8:4
                  if if @8:4 -> literal :yes @8:14 [true]
                  if if @8:4 -> literal :no @8:26 [false]
                  literal :yes @8:14 -> use x @9:11
                  literal :no @8:26 -> use x @9:11
                  use x @9:11 -> unless unless @9:4
                  unless unless @9:4 -> literal :no @9:18 [false]
                  literal :no @9:18 -> cond cond @10:4
                  unless unless @9:4 -> cond cond @10:4 [true]
                  cond cond @10:4 -> use x @11:6
                  use x @11:6 -> literal 1 @11:10
                  literal 1 @11:10 -> operator > @11:6
                  operator > @11:6 -> clause @11:6 [true]
                  clause @11:6 -> literal :big @11:15
                  operator > @11:6 -> literal true @12:6 [false]
                  literal true @12:6 -> clause @12:6 [true]
                  clause @12:6 -> literal :small @12:14
                  literal :big @11:15 -> exit @14:2
                  literal :small @12:14 -> exit @14:2
        "#]],
    );
}

#[test]
fn cfg_with_receive_and_for() {
    check(
        CFG,
        r#"
defmodule W do
  def f(m) do
    with {:ok, a} <- fetch(m),
         {:ok, b} <- fetch(a) do
      b
    else
      :error -> nil
    end
    receive do
      {:msg, v} -> v
    after
      100 -> :timeout
    end
    for x <- m, do: x
  end
  defp fetch(x), do: {:ok, x}
end
"#,
        expect![[r#"
            module W (fixture.ex:2)
                cfg f/1#0
                  entry @3:2 -> parameter m @3:8
                  parameter m @3:8 -> with with @4:4
                  with with @4:4 -> use m @4:27
                  use m @4:27 -> call fetch @4:21
                  call fetch @4:21 -> match <- @4:9
                  match <- @4:9 -> use a @5:27 [match]
                  use a @5:27 -> call fetch @5:21
                  call fetch @5:21 -> match <- @5:9
                  match <- @5:9 -> use b @6:6 [match]
                  match <- @4:9 -> clause @8:6 [else 0]
                  match <- @5:9 -> clause @8:6 [else 0]
                  clause @8:6 -> literal nil @8:16
                  use b @6:6 -> receive receive @10:4
                  literal nil @8:16 -> receive receive @10:4
                  receive receive @10:4 -> clause @11:6 [clause 0]
                  clause @11:6 -> use v @11:19
                  receive receive @10:4 -> literal 100 @13:6 [after]
                  literal 100 @13:6 -> literal :timeout @13:13
                  use v @11:19 -> use m @15:13
                  literal :timeout @13:13 -> use m @15:13
                  use m @15:13 -> call reduce @15:4
                  call reduce @15:4 -> for for @15:4
                  for for @15:4 -> use x @15:20 [true]
                  use x @15:20 -> for for @15:4
                  for for @15:4 -> exit @16:2 [false]
                cfg fetch/1#0
                  entry @17:2 -> parameter x @17:13
                  parameter x @17:13 -> literal :ok @17:22
                  literal :ok @17:22 -> use x @17:27
                  use x @17:27 -> container tuple @17:21
                  container tuple @17:21 -> exit @17:2
        "#]],
    );
}

#[test]
fn cfg_macro_clauses_join_before_the_next_statement() {
    check(
        CFG,
        r#"
defmodule M do
  def f(x) do
    on x do
      :a -> 1
      :b -> 2
    end
    done(x)
  end
end
"#,
        expect![[r#"
            module M (fixture.ex:2)
                cfg f/1#0
                  entry @3:2 -> parameter x @3:8
                  parameter x @3:8 -> use x @4:7
                  use x @4:7 -> clause @5:6 [clause 0]
                  clause @5:6 -> literal 1 @5:12
                  use x @4:7 -> clause @6:6 [clause 1]
                  clause @6:6 -> literal 2 @6:12
                  literal 1 @5:12 -> call on @4:4
                  literal 2 @6:12 -> call on @4:4
                  call on @4:4 -> use x @8:9
                  use x @8:9 -> call done @8:4
                  call done @8:4 -> exit @9:2
        "#]],
    );
}

#[test]
fn cfg_try_and_exception_flow() {
    check(
        CFG,
        r#"
defmodule T do
  def f(x) do
    try do
      raise ArgumentError, "bad"
    rescue
      e in ArgumentError -> e
    catch
      :throw, v -> v
    else
      r -> r
    after
      cleanup()
    end
    throw(:up)
  end
  defp cleanup, do: :ok
end
"#,
        expect![[r#"
            module T (fixture.ex:2)
                cfg f/1#0
                  entry @3:2 -> parameter x @3:8
                  parameter x @3:8 -> try try @4:4
                  try try @4:4 -> literal ArgumentError @5:12
                  literal ArgumentError @5:12 -> literal "bad" @5:27
                  literal "bad" @5:27 -> call exception @5:6
                  call exception @5:6 -> call raise @5:6
                  clause @11:6 -> use r @11:11
                  try try @4:4 -> clause @7:6 [rescue 0]
                  call raise @5:6 -> clause @7:6 [rescue 0]
                  clause @7:6 -> use e @7:28
                  try try @4:4 -> clause @9:6 [catch 0]
                  call raise @5:6 -> clause @9:6 [catch 0]
                  clause @9:6 -> use v @9:19
                  use r @11:11 -> call cleanup @13:6 [after]
                  use e @7:28 -> call cleanup @13:6 [after]
                  use v @9:19 -> call cleanup @13:6 [after]
                  call cleanup @13:6 -> literal :up @15:10
                  literal :up @15:10 -> call throw @15:4
                  call throw @15:4 -> exit @16:2 [throw]
                cfg cleanup/0#0
                  entry @17:2 -> literal :ok @17:20
                  literal :ok @17:20 -> exit @17:2
        "#]],
    );
}

#[test]
fn dfg_bindings_pins_rebinding_case_and_with_variables() {
    check(
        DFG,
        r#"
defmodule D do
  def f(a) do
    x = a
    x = x + 1
    ^x = a
    case x do
      {:ok, y} -> y
    end
    with {:ok, z} <- a, do: z
    a |> g(x)
  end
  defp g(p, q), do: {p, q}
end
"#,
        expect![[r#"
            module D (fixture.ex:2)
                dfg f/1#0
                  parameter a @3:8 -> def a @3:8 [bind]
                  def a @3:8 -> use a @4:8
                  use a @4:8 -> def x @4:4 [bind]
                  use a @4:8 -> match = @4:4
                  def x @4:4 -> use x @5:8
                  use x @5:8 -> operator + @5:8
                  literal 1 @5:12 -> operator + @5:8
                  operator + @5:8 -> def x @5:4 [bind]
                  operator + @5:8 -> match = @5:4
                  def a @3:8 -> use a @6:9
                  def x @5:4 -> pin x @6:4 [pin]
                  use a @6:9 -> match = @6:4
                  def x @5:4 -> use x @7:9
                  use x @7:9 -> case case @7:4
                  case case @7:4 -> def y @8:12 [bind]
                  def y @8:12 -> use y @8:18
                  use y @8:18 -> clause @8:6 [return]
                  clause @8:6 -> case case @7:4 [return]
                  def a @3:8 -> use a @10:21
                  use a @10:21 -> def z @10:15 [bind]
                  use a @10:21 -> match <- @10:9
                  def z @10:15 -> use z @10:28
                  use z @10:28 -> with with @10:4 [return]
                  def a @3:8 -> use a @11:4
                  use a @11:4 -> call g @11:9 [pipe]
                  def x @5:4 -> use x @11:11
                  use x @11:11 -> call g @11:9 [arg 1]
                  call g @11:9 -> exit @12:2 [return]
                dfg g/2#0
                  parameter p @13:9 -> def p @13:9 [bind]
                  parameter q @13:12 -> def q @13:12 [bind]
                  def p @13:9 -> use p @13:21
                  use p @13:21 -> container tuple @13:20
                  def q @13:12 -> use q @13:24
                  use q @13:24 -> container tuple @13:20
                  container tuple @13:20 -> exit @13:2 [return]
        "#]],
    );
}

#[test]
fn syntax_errors_give_diagnostics_and_what_could_be_built() {
    check(
        CALLS,
        r#"
defmodule Broken do
  def ok(x), do: Enum.map(x, & &1)
  def bad(x do
    x +
  end
end
"#,
        expect![[r#"
            diagnostic fixture.ex:2:18 syntax error: unexpected input
            module Broken (fixture.ex:2)
              def ok/1 clauses=1 nesting=0
                call ok/1 -> Enum.map/2 (remote) @3
              module_body __module__/0 clauses=0 nesting=0
                call __module__/0 -> ?.x/1 (unresolved) @4
        "#]],
    );
}

#[test]
fn hostile_nesting_is_cut_off_with_a_diagnostic_not_a_crash() {
    // 50,000 nested lists and a 20,000-segment dotted alias chain: the
    // recursive walk must stop, not overflow the stack.
    let deep = format!(
        "defmodule Deep do\n  def f, do: {}{}\n  def g, do: __MODULE__{}.f()\nend\n",
        "[".repeat(50_000),
        "]".repeat(50_000),
        ".A".repeat(20_000),
    );
    let cpg = build_file("deep.ex", deep.as_bytes());
    assert!(
        cpg.diagnostics
            .iter()
            .any(|d| d.message.contains("nested deeper than")),
        "{:?}",
        cpg.diagnostics
    );
    let module = cpg
        .fragments
        .iter()
        .find(|f| f.name == "Deep")
        .expect("module Deep");
    assert_eq!(module.functions.len(), 2);
    // Deeply nested broken code: diagnostics, no crash.
    let broken = format!(
        "defmodule Broken do\n  def h, do: {}\nend\n",
        "(fn -> ".repeat(5_000)
    );
    let cpg = build_file("broken.ex", broken.as_bytes());
    assert!(cpg
        .diagnostics
        .iter()
        .any(|d| d.message.starts_with("syntax error")));
}

/// A module with `ok/0` and a list of calls `bytes` long, on one line.
fn long_line(bytes: usize) -> Vec<u8> {
    let mut s = String::from("defmodule LongLine do def ok, do: :ok; def f, do: [");
    while s.len() < bytes {
        s.push_str("Enum.count([1, 2, 3]), ");
    }
    s.push_str(":end] end\n");
    s.into_bytes()
}

/// The hostile files of the fault-tolerance issue, each built on a thread
/// with the main thread's stack size: a diagnostic for each, no crash, and
/// the sound code around the hostile part still analysed.
#[test]
fn hostile_files_get_a_diagnostic_each_and_never_crash() {
    let deep = 100_000;
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "lists.ex",
            format!(
                "defmodule Lists do\n  def f, do: {}{}\n  def ok, do: :ok\nend\n",
                "[".repeat(deep),
                "]".repeat(deep)
            )
            .into_bytes(),
            "nested deeper than",
        ),
        (
            "parens.ex",
            format!(
                "defmodule Parens do\n  def f(x), do: {}x{}\n  def ok, do: :ok\nend\n",
                "(".repeat(deep),
                ")".repeat(deep)
            )
            .into_bytes(),
            "nested deeper than",
        ),
        (
            "ops.ex",
            format!(
                "defmodule Ops do\n  def f(x), do: x{}\n  def ok, do: :ok\nend\n",
                " + x".repeat(deep)
            )
            .into_bytes(),
            "nested deeper than",
        ),
        (
            "ifs.ex",
            format!(
                "defmodule Ifs do\n  def f(x) do\n{}:done\n{}  end\n  def ok, do: :ok\nend\n",
                "if x do\n".repeat(deep),
                "end\n".repeat(deep)
            )
            .into_bytes(),
            "nested deeper than",
        ),
        (
            "unclosed.ex",
            format!(
                "defmodule Unclosed do\n  def ok, do: :ok\n  def f, do: {}\nend\n",
                "%{a: [".repeat(deep)
            )
            .into_bytes(),
            "syntax error",
        ),
        // Sound code on one line of 1 MiB is analysed; one of 3 MiB makes
        // too big a CPG, and a 10 MiB file is refused unread.
        ("long_line.ex", long_line(1 << 20), ""),
        ("longer_line.ex", long_line(3 << 20), "over the limit of"),
        ("huge.ex", long_line(10 << 20), "over the 8 MiB limit"),
        (
            "binary.ex",
            (0..1_000_000u32)
                .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
                .collect(),
            "binary data",
        ),
        // Random bytes without a NUL: parsed, with what the parser found.
        (
            "garbage.ex",
            (0..200_000u32)
                .map(|i| ((i.wrapping_mul(2_654_435_761) >> 13) as u8) | 1)
                .collect(),
            "invalid UTF-8",
        ),
        // Text with a few bytes that are not UTF-8: analysed, with a note.
        (
            "latin1.ex",
            b"defmodule Latin1 do\n  def ok, do: \"caf\xe9\"\nend\n".to_vec(),
            "invalid UTF-8",
        ),
    ];
    for (file, bytes, expected) in cases {
        let name = file.to_string();
        let started = std::time::Instant::now();
        let cpg = std::thread::Builder::new()
            .stack_size(8 << 20)
            .spawn(move || build_file(&name, &bytes))
            .unwrap()
            .join()
            .unwrap_or_else(|_| panic!("{file}: the front end panicked"));
        // Sound code, however long its line, needs no diagnostic.
        assert!(
            if expected.is_empty() {
                cpg.diagnostics.is_empty()
            } else {
                cpg.diagnostics.iter().any(|d| d.message.contains(expected))
            },
            "{file}: {:?}",
            &cpg.diagnostics[..cpg.diagnostics.len().min(5)]
        );
        eprintln!("{file}: {:?}", started.elapsed());
        if !matches!(
            file,
            "binary.ex" | "garbage.ex" | "longer_line.ex" | "huge.ex"
        ) {
            let functions: Vec<_> = cpg
                .fragments
                .iter()
                .flat_map(|m| m.functions.iter().map(|f| m.str(f.name).to_string()))
                .collect();
            assert!(
                functions.iter().any(|f| f == "ok"),
                "{file}: the sound function is analysed: {functions:?}"
            );
        }
    }
}

#[test]
fn phoenix_routes_plugs_and_templates_are_calls() {
    check(
        CALLS,
        r#"
defmodule AppWeb.Router do
  use AppWeb, :router

  pipeline :browser do
    plug :fetch_session
    plug AppWeb.Plugs.Locale
  end

  scope "/", AppWeb do
    pipe_through [:browser]
    get "/", PageController, :home
    resources "/users", UserController, only: [:index, :show]
    live "/live", DashboardLive, :index
    forward "/api", Api.Router
  end
end

defmodule AppWeb.PageController do
  def home(conn, _params), do: render(conn, :home)
end

defmodule AppWeb.Components do
  def card(assigns) do
    ~H"""
    <.button label="–">x</.button> <AppWeb.Other.badge /> <.live_component module={AppWeb.Widget} id="w" />
    """
  end
end
"#,
        expect![[r#"
            module AppWeb.Router (fixture.ex:2)
              dep use AppWeb @3
              generated browser/2 clauses=0 nesting=0
                call browser/2 -> ?.fetch_session/2 (unresolved) @6
                call browser/2 -> AppWeb.Plugs.Locale.init/1 (macro) @7
                call browser/2 -> AppWeb.Plugs.Locale.call/2 (macro) @7
              generated call/2 clauses=0 nesting=0
                call call/2 -> AppWeb.Router.browser/2 (macro) @11
                call call/2 -> AppWeb.PageController.home/2 (macro) @12
                call call/2 -> AppWeb.UserController.index/2 (macro) @13
                call call/2 -> AppWeb.UserController.show/2 (macro) @13
                call call/2 -> AppWeb.DashboardLive.mount/3 (macro) @14
                call call/2 -> AppWeb.DashboardLive.mount/1 (macro) @14
                call call/2 -> AppWeb.DashboardLive.update/2 (macro) @14
                call call/2 -> AppWeb.DashboardLive.update_many/1 (macro) @14
                call call/2 -> AppWeb.DashboardLive.handle_params/3 (macro) @14
                call call/2 -> AppWeb.DashboardLive.handle_event/3 (macro) @14
                call call/2 -> AppWeb.DashboardLive.handle_info/2 (macro) @14
                call call/2 -> AppWeb.DashboardLive.handle_async/3 (macro) @14
                call call/2 -> AppWeb.DashboardLive.render/1 (macro) @14
                call call/2 -> AppWeb.Api.Router.init/1 (macro) @15
                call call/2 -> AppWeb.Api.Router.call/2 (macro) @15
              module_body __module__/0 clauses=0 nesting=0
                call __module__/0 -> AppWeb.__using__/1 (remote) @3
                call __module__/0 -> AppWeb.router/0 (macro) @3
                call __module__/0 -> ?.plug/1 (unresolved) @6
                call __module__/0 -> ?.plug/1 (unresolved) @7
                call __module__/0 -> ?.pipeline/2 (unresolved) @5
                call __module__/0 -> ?.pipe_through/1 (unresolved) @11
                call __module__/0 -> ?.get/3 (unresolved) @12
                call __module__/0 -> ?.resources/3 (unresolved) @13
                call __module__/0 -> ?.live/3 (unresolved) @14
                call __module__/0 -> ?.forward/2 (unresolved) @15
                call __module__/0 -> ?.scope/3 (unresolved) @10
            module AppWeb.PageController (fixture.ex:19)
              def home/2 clauses=1 nesting=0
                call home/2 -> ?.render/2 (unresolved) @20
                call home/2 -> AppWeb.PageHTML.home/1 (macro) @20
                call home/2 -> AppWeb.PageJSON.home/1 (macro) @20
            module AppWeb.Components (fixture.ex:23)
              def card/1 clauses=1 nesting=0
                call card/1 -> AppWeb.Widget.mount/3 (macro) @25
                call card/1 -> AppWeb.Widget.mount/1 (macro) @25
                call card/1 -> AppWeb.Widget.update/2 (macro) @25
                call card/1 -> AppWeb.Widget.update_many/1 (macro) @25
                call card/1 -> AppWeb.Widget.handle_params/3 (macro) @25
                call card/1 -> AppWeb.Widget.handle_event/3 (macro) @25
                call card/1 -> AppWeb.Widget.handle_info/2 (macro) @25
                call card/1 -> AppWeb.Widget.handle_async/3 (macro) @25
                call card/1 -> AppWeb.Widget.render/1 (macro) @25
                call card/1 -> ?.button/1 (unresolved) @25
                call card/1 -> AppWeb.Other.badge/1 (macro) @25
                call card/1 -> ?.live_component/1 (unresolved) @25
        "#]],
    );
}

#[test]
fn ecto_query_expressions_are_the_query_apis() {
    check(
        CALLS,
        r#"
defmodule Q do
  import Ecto.Query
  def f(id) do
    Key
    |> join(:inner, [k], o in assoc(k, :org))
    |> where([k], ilike(k.name, ^id) and k.id in ^[1, 2])
  end
  def update_assign(socket), do: update(socket, :n, fn n -> n + 1 end)
end
"#,
        expect![[r#"
            module Q (fixture.ex:2)
              dep import Ecto.Query @3
              def f/1 clauses=1 nesting=0
                call f/1 -> Ecto.Query.assoc/2 (imported) @6 candidates=Ecto.Query,Ecto.Query.API
                call f/1 -> Ecto.Query.join/4 (imported) @6 candidates=Ecto.Query
                call f/1 -> Ecto.Query.ilike/2 (imported) @7 candidates=Ecto.Query,Ecto.Query.API
                call f/1 -> Ecto.Query.where/3 (imported) @7 candidates=Ecto.Query
              def update_assign/1 clauses=1 nesting=1
                call update_assign/1 -> Ecto.Query.update/3 (imported) @9 candidates=Ecto.Query
        "#]],
    );
}

#[test]
fn templates_with_odd_bytes_do_not_break_the_scan() {
    // Multibyte characters next to `<`, an unclosed `module={`, a tag at the
    // very end: the HEEx scan reads what it can and never panics.
    for src in [
        "defmodule T do\n  def a(assigns), do: ~H\"<–<.x–>é<\"\nend\n",
        "defmodule T do\n  def a(assigns), do: ~H\"<.live_component module={–\"\nend\n",
        "defmodule T do\n  def a(assigns), do: ~H\"<\"\nend\n",
        "defmodule T do\n  def a(assigns), do: ~H\"module={\"\nend\n",
    ] {
        let cpg = build_file("t.ex", src.as_bytes());
        assert_eq!(cpg.fragments.len(), 1, "{src}");
    }
}

#[test]
fn absolute_names_and_records_named_by_a_module_level_each() {
    check(
        CALLS,
        r#"
defmodule R do
  require Record
  alias My.File
  @more [dot: :Dot]
  @records [point: :Point, line: :Line] ++ @more
  @unknown [a: 1] ++ compute()
  Enum.each(@unknown, fn {name, _} -> Record.defrecord(name, :X, []) end)
  Enum.each(@records, fn
    {name, :Point} -> Record.defrecord(name, :Point, x: 0)
    {name, record} -> Record.defrecord(name, record, [])
  end)
  def f(p), do: Elixir.File.read!(p) && File.read!(p)
end
"#,
        expect![[r#"
            module R (fixture.ex:2)
              dep require Record @3
              dep alias My.File @4
              defmacro point/0 clauses=0 nesting=0
              defmacro point/1 clauses=0 nesting=0
              defmacro point/2 clauses=0 nesting=0
              defmacro line/0 clauses=0 nesting=0
              defmacro line/1 clauses=0 nesting=0
              defmacro line/2 clauses=0 nesting=0
              defmacro dot/0 clauses=0 nesting=0
              defmacro dot/1 clauses=0 nesting=0
              defmacro dot/2 clauses=0 nesting=0
              def f/1 clauses=1 nesting=0
                call f/1 -> File.read!/1 (remote) @13
                call f/1 -> My.File.read!/1 (remote) @13
              module_body __module__/0 clauses=0 nesting=0
                call __module__/0 -> ?.compute/0 (unresolved) @7
                call __module__/0 -> Record.defrecord/3 (remote) @8
                call __module__/0 -> Enum.each/2 (remote) @8
                call __module__/0 -> Record.defrecord/3 (remote) @10
                call __module__/0 -> Record.defrecord/3 (remote) @11
                call __module__/0 -> Enum.each/2 (remote) @9
        "#]],
    );
}

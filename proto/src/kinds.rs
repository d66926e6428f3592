//! The closed vocabularies of the CPG: node, edge, call, function, module and
//! dependency kinds. All are one byte so that table rows stay small.

use serde::{Deserialize, Serialize};

macro_rules! named_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident => $text:literal,)* }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[repr(u8)]
        pub enum $name { $($(#[$vmeta])* $variant,)* }

        impl $name {
            /// Every variant, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant,)*];

            /// The lower-case name used in snapshots, CSV and JSON.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text,)* }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

named_enum! {
    /// What a CPG node stands for. Punctuation is never a node.
    NodeKind {
        Module => "module",
        Function => "function",
        Clause => "clause",
        Parameter => "parameter",
        Guard => "guard",
        Call => "call",
        Variable => "variable",
        Literal => "literal",
        /// List, tuple, map, struct or bitstring construction (or pattern).
        Container => "container",
        /// `=` pattern match.
        Match => "match",
        /// Operators other than `=`, `|>` and `&` (they are Kernel functions,
        /// but inlined by the compiler, so they are not calls in the call graph).
        Operator => "operator",
        Case => "case",
        Cond => "cond",
        If => "if",
        Unless => "unless",
        With => "with",
        Receive => "receive",
        Try => "try",
        Fn => "fn",
        /// `for` comprehension.
        For => "for",
        /// `quote` block: its contents are code for another module.
        Quote => "quote",
        Attribute => "attribute",
        Directive => "directive",
        Entry => "entry",
        Exit => "exit",
    }
}

named_enum! {
    /// The three edge families of a CPG fragment. Call edges and module
    /// dependency edges are kept in their own tables ([`crate::CallSite`],
    /// [`crate::ModuleDep`]) because their targets are names outside the module.
    EdgeKind {
        Ast => "ast",
        Cfg => "cfg",
        Dfg => "dfg",
    }
}

named_enum! {
    /// Edge label: CFG branch labels, DFG roles.
    Label {
        None => "",
        True => "true",
        False => "false",
        /// The n-th clause of a case/receive/fn/else/cond (index on the edge).
        Clause => "clause",
        /// A `with`/`for` clause pattern matched.
        Match => "match",
        /// A `with` clause pattern did not match.
        NoMatch => "nomatch",
        Else => "else",
        After => "after",
        Rescue => "rescue",
        Catch => "catch",
        /// Exception flow out of `raise`/`reraise`/`exit`.
        Raise => "raise",
        /// Exception flow out of `throw`.
        Throw => "throw",
        /// DFG: the pipe's left value into the call's first argument.
        Pipe => "pipe",
        /// DFG: a pinned variable's definition into the pattern.
        Pin => "pin",
        /// DFG: a matched value into the variables its pattern binds.
        Bind => "bind",
        /// DFG: a value into the argument position of a call (index on the edge).
        Arg => "arg",
        /// DFG: a value returned from a clause (into its Exit).
        Return => "return",
        /// DFG: a variable's definition into a use guarded by a check on it
        /// (the [`crate::Check`] bits on the edge's index).
        Checked => "checked",
        /// DFG: a keyword's value into its list (the key's string id on the
        /// edge's index).
        Key => "key",
    }
}

named_enum! {
    /// How a call site names its target.
    CallKind {
        /// A function of the same module.
        Local => "local",
        /// `Module.fun(...)` with a known Elixir module.
        Remote => "remote",
        /// `:erlang_module.fun(...)`.
        Erlang => "erlang",
        /// A bare call resolved through `import` (including Kernel's implicit import).
        Imported => "imported",
        /// `apply/2,3`, `mod.fun()` with `mod` a variable, `fun.()`: target unknown
        /// until run time.
        Dynamic => "dynamic",
        /// A bare call that matches no local function and no known import.
        Unresolved => "unresolved",
        /// Work handed to another process: `GenServer.call/cast` to the
        /// module's `handle_call`/`handle_cast`, `send` to a registered name's
        /// `handle_info`, `spawn(M, :f, args)` to `M.f`. Added by the link step.
        Process => "process",
        /// A call a macro's expansion makes (`for` → `Enum.reduce/3`,
        /// `Logger.debug` → `Logger.__should_log__/2`): in the compiled
        /// code, not in the source text.
        Macro => "macro",
        /// `{Module, :fun, [args]}` written as data (a telemetry poller's
        /// measurement, a `:timer.apply_interval`, a config callback):
        /// whoever receives it calls `Module.fun/length(args)`. Kept only
        /// when the module is known to define it.
        Reference => "reference",
    }
}

named_enum! {
    /// The macro a function was defined with (plus synthetic kinds).
    FunKind {
        Def => "def",
        Defp => "defp",
        Defmacro => "defmacro",
        Defmacrop => "defmacrop",
        Defguard => "defguard",
        Defguardp => "defguardp",
        Defdelegate => "defdelegate",
        /// A protocol function declared in `defprotocol` (no body).
        ProtocolFn => "protocol",
        /// Code in the module body outside any function (`__module__/0`).
        ModuleBody => "module_body",
        /// Generated by `defstruct`/`defexception` (`__struct__/0,1`).
        Generated => "generated",
    }
}

impl FunKind {
    /// Whether other modules can call it.
    pub fn is_public(self) -> bool {
        !matches!(
            self,
            FunKind::Defp | FunKind::Defmacrop | FunKind::Defguardp | FunKind::ModuleBody
        )
    }

    /// Whether it is expanded at compile time rather than called.
    pub fn is_macro(self) -> bool {
        matches!(
            self,
            FunKind::Defmacro | FunKind::Defmacrop | FunKind::Defguard | FunKind::Defguardp
        )
    }
}

named_enum! {
    /// What a module was defined with.
    ModuleKind {
        Module => "module",
        Protocol => "protocol",
        Impl => "impl",
        /// Top-level code of a script (`.exs`) outside any module.
        Script => "script",
        /// The Elixir of a HEEx template file, until the link step gives it
        /// to the module that owns the template.
        Template => "template",
    }
}

named_enum! {
    /// Why one module depends on another.
    DepKind {
        Alias => "alias",
        Import => "import",
        Require => "require",
        Use => "use",
        Behaviour => "behaviour",
        /// `defimpl P, for: T`: the impl depends on the protocol P.
        Impl => "impl",
        /// `defimpl P, for: T`: the impl depends on the type module T.
        ImplFor => "impl_for",
        /// `%T{}` struct construction or pattern.
        Struct => "struct",
    }
}

impl DepKind {
    /// Dependencies that force recompilation of the dependent module
    /// (`mix xref`'s compile-time edges). Structs are export dependencies.
    pub fn is_compile_time(self) -> bool {
        matches!(
            self,
            DepKind::Import | DepKind::Require | DepKind::Use | DepKind::Behaviour | DepKind::Impl
        )
    }
}

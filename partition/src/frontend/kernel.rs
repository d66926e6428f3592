//! What `Kernel` exports (the implicit import every module gets, needed to
//! resolve bare calls the way the compiler does) and the known effects of
//! `use` for standard modules.

/// Whether `Kernel` exports `name/arity` in any Elixir release of the
/// standard-library table (`crate::library`): what its implicit import
/// brings into every module. `__info__` and `module_info` are not imported.
pub fn exports(name: &str, arity: u16) -> bool {
    !matches!(name, "__info__" | "module_info")
        && crate::library::table().provides("Kernel", name, arity) == Some(true)
}

/// Modules whose `use` is known to import others or declare a behaviour, so
/// that bare calls in the using module resolve as after macro expansion.
/// `(used module, imported modules, behaviour)`.
pub const USE_EFFECTS: &[(&str, &[&str], Option<&str>)] = &[
    (
        "ExUnit.Case",
        &[
            "ExUnit.Callbacks",
            "ExUnit.Assertions",
            "ExUnit.Case",
            "ExUnit.DocTest",
        ],
        None,
    ),
    (
        "ExUnit.CaseTemplate",
        &[
            "ExUnit.Callbacks",
            "ExUnit.Assertions",
            "ExUnit.CaseTemplate",
        ],
        None,
    ),
    ("GenServer", &[], Some("GenServer")),
    ("Supervisor", &["Supervisor.Spec"], Some("Supervisor")),
    ("Agent", &[], None),
    ("Task", &[], None),
    ("Application", &[], Some("Application")),
    ("Mix.Task", &[], Some("Mix.Task")),
    ("Mix.Task.Compiler", &[], Some("Mix.Task.Compiler")),
    ("Bitwise", &["Bitwise"], None),
    ("DynamicSupervisor", &[], Some("DynamicSupervisor")),
    ("Registry", &[], None),
];

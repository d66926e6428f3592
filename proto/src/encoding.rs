//! The protocol a value is being encoded for. A link between two processes
//! runs at the lower of their protocol versions; the network layer encodes
//! each message inside [`at`] with the link's version, and a wire type that
//! changed shape (a new error variant) asks [`speaks`] whether the link
//! knows the new shape, writing the one the older protocol had otherwise.
//! Outside a link (files, JSON, tests) every value takes its newest shape.

use std::cell::Cell;

thread_local! {
    static VERSION: Cell<Option<u16>> = const { Cell::new(None) };
}

/// Run `encode` for a link at protocol `version`; the version in force
/// before is restored after it, even if `encode` panics.
pub fn at<T>(version: u16, encode: impl FnOnce() -> T) -> T {
    struct Restore(Option<u16>);
    impl Drop for Restore {
        fn drop(&mut self) {
            VERSION.with(|v| v.set(self.0));
        }
    }
    let _restore = Restore(VERSION.with(|v| v.replace(Some(version))));
    encode()
}

/// Whether what is being encoded now goes to a link of protocol `since`
/// or later (or to no link).
pub fn speaks(since: u16) -> bool {
    VERSION.with(|v| v.get().is_none_or(|v| v >= since))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_version_holds_inside_its_scope_only_and_nests() {
        assert!(speaks(u16::MAX), "outside a link every shape is the newest");
        at(16, || {
            assert!(speaks(16) && !speaks(17));
            at(17, || assert!(speaks(17)));
            assert!(!speaks(17), "the outer link's version is back");
        });
        let _ = std::panic::catch_unwind(|| at(3, || panic!("while encoding")));
        assert!(speaks(u16::MAX), "restored after a panic");
    }
}

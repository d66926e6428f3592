//! String interning: every name in the tables is a 4-byte [`Sym`].

use std::collections::HashMap;
use std::sync::Arc;

/// An interned string. `Sym::NONE` stands for "no string".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Sym(pub u32);

impl Sym {
    pub const NONE: Sym = Sym(u32::MAX);
}

/// Append-only string table. Strings are shared between the lookup map and the
/// vector (one allocation each); compaction rebuilds it without unused strings.
#[derive(Debug, Default, Clone)]
pub struct Interner {
    ids: HashMap<Arc<str>, Sym>,
    strings: Vec<Arc<str>>,
    bytes: usize,
}

impl Interner {
    pub fn intern(&mut self, s: &str) -> Sym {
        if let Some(&id) = self.ids.get(s) {
            return id;
        }
        let id = Sym(self.strings.len() as u32);
        let shared: Arc<str> = Arc::from(s);
        self.bytes += s.len();
        self.strings.push(shared.clone());
        self.ids.insert(shared, id);
        id
    }

    /// The id of `s` if it was interned.
    pub fn get(&self, s: &str) -> Option<Sym> {
        self.ids.get(s).copied()
    }

    pub fn resolve(&self, id: Sym) -> &str {
        self.strings.get(id.0 as usize).map(|s| &**s).unwrap_or("")
    }

    pub fn len(&self) -> usize {
        self.strings.len()
    }

    pub fn is_empty(&self) -> bool {
        self.strings.is_empty()
    }

    /// Resident bytes: string contents, Arc headers, the vector and the map.
    pub fn memory_bytes(&self) -> usize {
        let arc_header = 16;
        self.bytes
            + self.strings.len() * arc_header
            + self.strings.capacity() * std::mem::size_of::<Arc<str>>()
            + self.ids.capacity() * (std::mem::size_of::<(Arc<str>, Sym)>() + 1)
    }
}

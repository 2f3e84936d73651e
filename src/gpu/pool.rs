//! Bounded pools of GPU objects that a step rewrites instead of making anew: the bind groups
//! (with their parameter buffers) of the dispatches that write a buffer, and their small
//! per-dispatch inputs (token ids, say), both kept with the buffer the dispatches write.
//!
//! An object is reused as it is when it already holds the bytes wanted; rewritten when it holds
//! others and no command still waiting for submission uses it (the queue writes before the next
//! submission, so a pending command would see the new bytes); made anew otherwise. So a model's
//! second identical step makes nothing, and a decode step, whose parameters move on by one
//! position, only rewrites.

/// What a lookup did, for the counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Reuse {
    AsItWas,
    Rewritten,
    Made,
}

struct Entry<K, V> {
    key: K,
    bytes: Vec<u8>,
    value: V,
    /// The submission the last command using it belongs to (see `Pool::get`).
    used_in: u64,
}

pub(super) struct Pool<K, V> {
    /// Least recently used first.
    entries: Vec<Entry<K, V>>,
    capacity: usize,
}

impl<K: PartialEq, V> Pool<K, V> {
    pub fn new(capacity: usize) -> Pool<K, V> {
        Pool { entries: Vec::new(), capacity }
    }

    /// The object for `key` holding `bytes`, to be used by the commands of submission `pending`
    /// (the number of submissions made so far). `rewrite` writes new bytes into an existing
    /// object; `make` makes one. Past the capacity the least recently used is dropped: commands
    /// already recorded keep what they use alive.
    pub fn get(
        &mut self,
        key: K,
        bytes: &[u8],
        pending: u64,
        rewrite: impl FnOnce(&V, &[u8]),
        make: impl FnOnce(&K, &[u8]) -> V,
    ) -> (&V, Reuse) {
        let same = self.entries.iter().position(|e| e.key == key && e.bytes == bytes);
        let free = || self.entries.iter().position(|e| e.key == key && e.used_in < pending);
        let (mut entry, reuse) = match same
            .map(|i| (i, Reuse::AsItWas))
            .or_else(|| free().map(|i| (i, Reuse::Rewritten)))
        {
            Some((i, reuse)) => (self.entries.remove(i), reuse),
            None => {
                if self.entries.len() == self.capacity {
                    self.entries.remove(0);
                }
                let value = make(&key, bytes);
                (Entry { key, bytes: bytes.to_vec(), value, used_in: pending }, Reuse::Made)
            }
        };
        if reuse == Reuse::Rewritten {
            rewrite(&entry.value, bytes);
            entry.bytes.clear();
            entry.bytes.extend_from_slice(bytes);
        }
        entry.used_in = pending;
        self.entries.push(entry);
        let last = self.entries.last().expect("just pushed");
        (&last.value, reuse)
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    #[cfg_attr(not(target_arch = "wasm32"), test)]
    fn reuses_rewrites_only_what_no_pending_command_uses_and_stays_bounded() {
        let (mut pool, mut made, mut rewrites) = (Pool::new(3), 0, Vec::new());
        let mut get = |key: &'static str, bytes: &[u8], pending| {
            let rewrite = |v: &u32, b: &[u8]| rewrites.push((*v, b.to_vec()));
            let make = |_: &&str, _: &[u8]| {
                made += 1;
                made
            };
            let (&v, reuse) = pool.get(key, bytes, pending, rewrite, make);
            (v, reuse, pool.len())
        };
        assert_eq!(get("a", &[1], 0), (1, Reuse::Made, 1));
        assert_eq!(get("a", &[1], 0), (1, Reuse::AsItWas, 1));
        // Other bytes while the first is pending: a second object.
        assert_eq!(get("a", &[2], 0), (2, Reuse::Made, 2));
        // After a submission both are free: the bytes find their own, then others are rewritten.
        assert_eq!(get("a", &[2], 1), (2, Reuse::AsItWas, 2));
        assert_eq!(get("a", &[3], 1), (1, Reuse::Rewritten, 2));
        assert_eq!(get("a", &[4], 1), (3, Reuse::Made, 3), "both are pending now");
        // Another key never takes these; the pool drops its least recently used (2).
        assert_eq!(get("b", &[3], 1), (4, Reuse::Made, 3));
        assert_eq!(get("a", &[2], 2), (1, Reuse::Rewritten, 3), "2 was dropped");
        assert_eq!(rewrites, [(1, vec![3]), (1, vec![2])]);
    }
}

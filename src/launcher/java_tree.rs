//! The tree bins of `java.util.HashMap` (its `TreeNode` red-black trees), as far as they decide
//! the iteration order: a tree bin iterates in its linked (`next`) order, which treeifying and
//! every later insertion rearrange. Only what a map that is never removed from can reach is
//! here (no `removeTreeNode`). Keys are Strings, so nodes are ordered by the signed spread hash,
//! then `String.compareTo`; Java's `tieBreakOrder` is needed only for equal keys, and equal keys
//! never meet in one map.

use std::cmp::Ordering;

use super::{compare, Bin, Entry, UNTREEIFY_THRESHOLD};

/// One `TreeNode`. Nodes live in an arena (`TreeBin::nodes`) and point at each other by index.
#[derive(Debug, Clone)]
struct Node<V> {
    entry: Entry<V>,
    parent: Option<usize>,
    left: Option<usize>,
    right: Option<usize>,
    red: bool,
}

/// A bin Java has turned into a red-black tree.
#[derive(Debug, Clone)]
pub(super) struct TreeBin<V> {
    nodes: Vec<Node<V>>,
    /// The bin's linked (`next`) order, by arena index; Java keeps the root first.
    order: Vec<usize>,
    root: usize,
}

/// The tree's ordering of two keys (`putTreeVal`/`treeify`: hash as Java's signed `int`, then
/// `compareComparables`, which for Strings is `compareTo`).
fn tree_order<V>(hash: u32, key: &str, other: &Entry<V>) -> Ordering {
    (hash as i32)
        .cmp(&(other.hash as i32))
        .then_with(|| compare(key, &other.key))
}

impl<V> TreeBin<V> {
    /// `treeifyBin` + `treeify`: the entries become tree nodes in their list order, are inserted
    /// into the tree one by one in that order, and the root is moved to the front of the list.
    pub(super) fn treeify(entries: Vec<Entry<V>>) -> Self {
        let mut bin = TreeBin {
            order: (0..entries.len()).collect(),
            nodes: entries
                .into_iter()
                .map(|entry| Node {
                    entry,
                    parent: None,
                    left: None,
                    right: None,
                    red: false,
                })
                .collect(),
            root: 0,
        };
        for x in 1..bin.nodes.len() {
            let parent = bin.leaf_parent(x);
            bin.attach(x, parent);
        }
        bin.move_root_to_front();
        bin
    }

    /// `putTreeVal`: a known key has its value replaced in place (returns false); a new key
    /// becomes a leaf, linked right after its tree parent in the bin's list (not at the tail),
    /// then the tree is balanced and its root moved to the front (returns true).
    pub(super) fn put(&mut self, entry: Entry<V>) -> bool {
        let mut p = self.root;
        let (parent, goes_left) = loop {
            let dir = tree_order(entry.hash, &entry.key, &self.nodes[p].entry);
            let child = match dir {
                Ordering::Equal => {
                    self.nodes[p].entry.value = entry.value;
                    return false;
                }
                Ordering::Less => self.nodes[p].left,
                Ordering::Greater => self.nodes[p].right,
            };
            match child {
                Some(c) => p = c,
                None => break (p, dir == Ordering::Less),
            }
        };
        let x = self.nodes.len();
        self.nodes.push(Node {
            entry,
            parent: None,
            left: None,
            right: None,
            red: false,
        });
        let at = self.position(parent) + 1;
        self.order.insert(at, x);
        self.attach(x, (parent, goes_left));
        self.move_root_to_front();
        true
    }

    /// `getTreeNode`/`find`: a plain search of the ordered tree.
    pub(super) fn get(&self, hash: u32, key: &str) -> Option<&V> {
        let mut p = Some(self.root);
        while let Some(i) = p {
            let node = &self.nodes[i];
            p = match tree_order(hash, key, &node.entry) {
                Ordering::Equal => return Some(&node.entry.value),
                Ordering::Less => node.left,
                Ordering::Greater => node.right,
            };
        }
        None
    }

    /// Entries in the bin's linked order.
    pub(super) fn iter(&self) -> impl Iterator<Item = &Entry<V>> {
        self.order.iter().map(|&i| &self.nodes[i].entry)
    }

    pub(super) fn len(&self) -> usize {
        self.nodes.len()
    }

    /// `TreeNode.split` on resize: the list is cut by `bit` into a low and a high half, each in
    /// the list's order. A half of at most `UNTREEIFY_THRESHOLD` nodes becomes a plain list
    /// (`untreeify`); a bigger one is treeified again from its own list, unless the other half
    /// is empty, in which case the tree is kept as it stands. Returns (low bin, high bin).
    pub(super) fn split(self, bit: u32) -> (Bin<V>, Bin<V>) {
        let low_count = self.iter().filter(|e| e.hash & bit == 0).count();
        let high_count = self.len() - low_count;
        if (low_count == 0 || high_count == 0) && self.len() > UNTREEIFY_THRESHOLD {
            let kept = Bin::Tree(self);
            return if low_count == 0 {
                (Bin::List(Vec::new()), kept)
            } else {
                (kept, Bin::List(Vec::new()))
            };
        }
        let mut nodes: Vec<Option<Node<V>>> = self.nodes.into_iter().map(Some).collect();
        let (mut low, mut high) = (Vec::new(), Vec::new());
        for i in self.order {
            let entry = nodes[i].take().expect("each node once in the order").entry;
            if entry.hash & bit == 0 {
                low.push(entry);
            } else {
                high.push(entry);
            }
        }
        let half = |entries: Vec<Entry<V>>| {
            if entries.len() <= UNTREEIFY_THRESHOLD {
                Bin::List(entries)
            } else {
                Bin::Tree(TreeBin::treeify(entries))
            }
        };
        (half(low), half(high))
    }

    /// The leaf slot where `treeify` hangs node `x`: (parent, as its left child?). Ties (only
    /// possible for equal keys, never in a map) go left, as `dir <= 0` does in Java.
    fn leaf_parent(&self, x: usize) -> (usize, bool) {
        let (hash, key) = (self.nodes[x].entry.hash, &self.nodes[x].entry.key);
        let mut p = self.root;
        loop {
            let goes_left = tree_order(hash, key, &self.nodes[p].entry) != Ordering::Greater;
            let child = if goes_left {
                self.nodes[p].left
            } else {
                self.nodes[p].right
            };
            match child {
                Some(c) => p = c,
                None => return (p, goes_left),
            }
        }
    }

    /// Links leaf `x` under `parent` and rebalances (`balanceInsertion`).
    fn attach(&mut self, x: usize, (parent, as_left): (usize, bool)) {
        self.nodes[x].parent = Some(parent);
        if as_left {
            self.nodes[parent].left = Some(x);
        } else {
            self.nodes[parent].right = Some(x);
        }
        self.balance_insertion(x);
    }

    fn position(&self, node: usize) -> usize {
        self.order
            .iter()
            .position(|&i| i == node)
            .expect("every node is in the order")
    }

    /// `moveRootToFront`: the root is unlinked from its place and put first; the rest keep
    /// their order.
    fn move_root_to_front(&mut self) {
        let at = self.position(self.root);
        if at != 0 {
            self.order.remove(at);
            self.order.insert(0, self.root);
        }
    }

    /// `balanceInsertion` (the CLR red-black insertion fix-up, as HashMap words it): `x` starts
    /// red; while its parent is red, either recolour (red uncle) and move up to the grandparent,
    /// or rotate the parent/grandparent (black uncle), after which the parent is black and the
    /// loop ends.
    fn balance_insertion(&mut self, mut x: usize) {
        self.nodes[x].red = true;
        loop {
            let Some(mut xp) = self.nodes[x].parent else {
                self.nodes[x].red = false;
                self.root = x;
                return;
            };
            if !self.nodes[xp].red {
                return;
            }
            // A red parent is never the root, so there is a grandparent; Java stops if not.
            let Some(xpp) = self.nodes[xp].parent else {
                return;
            };
            let parent_is_left = self.nodes[xpp].left == Some(xp);
            let uncle = if parent_is_left {
                self.nodes[xpp].right
            } else {
                self.nodes[xpp].left
            };
            if let Some(u) = uncle.filter(|&u| self.nodes[u].red) {
                self.nodes[u].red = false;
                self.nodes[xp].red = false;
                self.nodes[xpp].red = true;
                x = xpp;
                continue;
            }
            // An inner grandchild is first rotated outward; then parent and child swap roles.
            let inner = if parent_is_left {
                self.nodes[xp].right == Some(x)
            } else {
                self.nodes[xp].left == Some(x)
            };
            if inner {
                if parent_is_left {
                    self.rotate_left(xp);
                } else {
                    self.rotate_right(xp);
                }
                x = xp;
                xp = self.nodes[x].parent.expect("rotated under its child");
            }
            self.nodes[xp].red = false;
            self.nodes[xpp].red = true;
            if parent_is_left {
                self.rotate_right(xpp);
            } else {
                self.rotate_left(xpp);
            }
        }
    }

    /// `rotateLeft`: `p`'s right child takes its place; a node rotated into the root is
    /// coloured black, as in Java.
    fn rotate_left(&mut self, p: usize) {
        let Some(r) = self.nodes[p].right else { return };
        let inner = self.nodes[r].left;
        self.nodes[p].right = inner;
        if let Some(i) = inner {
            self.nodes[i].parent = Some(p);
        }
        self.replace_child(p, r);
        self.nodes[r].left = Some(p);
        self.nodes[p].parent = Some(r);
    }

    /// `rotateRight`: the mirror image of `rotate_left`.
    fn rotate_right(&mut self, p: usize) {
        let Some(l) = self.nodes[p].left else { return };
        let inner = self.nodes[l].right;
        self.nodes[p].left = inner;
        if let Some(i) = inner {
            self.nodes[i].parent = Some(p);
        }
        self.replace_child(p, l);
        self.nodes[l].right = Some(p);
        self.nodes[p].parent = Some(l);
    }

    /// Puts `new` where `old` hangs from its parent (or at the root, black).
    fn replace_child(&mut self, old: usize, new: usize) {
        let pp = self.nodes[old].parent;
        self.nodes[new].parent = pp;
        match pp {
            None => {
                self.root = new;
                self.nodes[new].red = false;
            }
            Some(pp) if self.nodes[pp].left == Some(old) => self.nodes[pp].left = Some(new),
            Some(pp) => self.nodes[pp].right = Some(new),
        }
    }
}

//! HFS+ volumes, written from a file tree: volume header, allocation bitmap, extents overflow and catalog B-trees,
//! files as single contiguous extents and symlinks stored as HFS+ stores them.

use std::collections::BTreeMap;

use unicode_normalization::UnicodeNormalization;

use crate::error::{Error, Result};

/// Allocation block size.
pub const BLOCK_SIZE: u32 = 4096;
/// B-tree node size of both the catalog and the extents overflow file.
const NODE_SIZE: usize = 4096;
/// The first catalog node ID of user files and folders; lower ones are reserved.
pub const FIRST_USER_ID: u32 = 16;
/// The root folder's ID, and its parent's.
pub const ROOT_ID: u32 = 2;
const ROOT_PARENT_ID: u32 = 1;
/// Seconds between 1904-01-01 (HFS+ dates) and 1970-01-01.
const HFS_EPOCH_OFFSET: u64 = 2_082_844_800;
/// Free space left on the volume.
const FREE_BLOCKS: u32 = 256;

/// Finder flags (`FileInfo.finderFlags` / `FolderInfo.finderFlags`).
pub const FINDER_INVISIBLE: u16 = 0x4000;
pub const FINDER_HAS_CUSTOM_ICON: u16 = 0x0400;

/// What an entry is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    Dir,
    /// A regular file with its permission bits.
    File {
        data: Vec<u8>,
        mode: u32,
    },
    /// A symbolic link to the target path.
    Symlink(String),
}

/// One file, folder or symlink of the volume; its parent folder must come earlier in the list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// `/`-separated path from the volume root, e.g. `Hello.app/Contents/Info.plist`.
    pub path: String,
    pub kind: Kind,
    /// Finder flags, e.g. [`FINDER_INVISIBLE`].
    pub finder_flags: u16,
}

/// The catalog node ID the entry at `index` of the list given to [`build`] gets.
pub fn cnid(index: usize) -> u32 {
    FIRST_USER_ID + index as u32
}

/// The HFS+ date (seconds since 1904) of a Unix time, as stored in the volume header and in aliases.
pub fn hfs_date(unix: u64) -> u32 {
    u32::try_from(unix + HFS_EPOCH_OFFSET).unwrap_or(u32::MAX)
}

/// The volume's settings.
#[derive(Debug, Clone)]
pub struct Options {
    pub volume_name: String,
    /// Every date on the volume (Unix seconds).
    pub epoch: u64,
    /// Finder flags of the root folder, e.g. [`FINDER_HAS_CUSTOM_ICON`] with a `.VolumeIcon.icns`.
    pub root_finder_flags: u16,
}

fn be16(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_be_bytes());
}

fn be32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_be_bytes());
}

fn be64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_be_bytes());
}

/// A catalog key: parent ID and name. Ordered as HFSX's binary comparison orders them (parent first, then the
/// UTF-16 code units), which is why the volume is HFSX: plain HFS+ orders names case-insensitively with Apple's
/// case-folding table.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Key {
    parent: u32,
    name: Vec<u16>,
}

impl Key {
    fn write(&self, out: &mut Vec<u8>) {
        be16(out, (6 + 2 * self.name.len()) as u16);
        be32(out, self.parent);
        be16(out, self.name.len() as u16);
        for u in &self.name {
            be16(out, *u);
        }
    }
}

/// A contiguous run of allocation blocks.
#[derive(Debug, Clone, Copy, Default)]
struct Extent {
    start: u32,
    count: u32,
}

/// `HFSPlusForkData`: 80 bytes.
fn fork_data(out: &mut Vec<u8>, logical_size: u64, extent: Extent, clump: u32) {
    be64(out, logical_size);
    be32(out, clump);
    be32(out, extent.count);
    be32(out, extent.start);
    be32(out, extent.count);
    out.extend_from_slice(&[0; 56]);
}

/// `HFSPlusBSDInfo`: 16 bytes.
fn bsd_info(out: &mut Vec<u8>, mode: u16) {
    be32(out, 0); // owner: root
    be32(out, 0); // group: wheel
    out.push(0); // admin flags
    out.push(0); // owner flags
    be16(out, mode);
    be32(out, 0);
}

struct Node<'a> {
    id: u32,
    parent: u32,
    name: Vec<u16>,
    entry: Option<&'a Entry>,
    valence: u32,
    extent: Extent,
}

/// Fills B-tree nodes with records (each already serialised); returns the nodes' record lists.
fn pack(records: Vec<Vec<u8>>) -> Vec<Vec<Vec<u8>>> {
    let mut nodes: Vec<Vec<Vec<u8>>> = vec![Vec::new()];
    let mut used = 14 + 2;
    for record in records {
        let need = record.len() + 2;
        if used + need > NODE_SIZE && !nodes.last().is_none_or(|n| n.is_empty()) {
            nodes.push(Vec::new());
            used = 14 + 2;
        }
        used += need;
        if let Some(last) = nodes.last_mut() {
            last.push(record);
        }
    }
    nodes
}

/// One B-tree node: descriptor, records, and the record offsets at the end.
fn node(kind: i8, height: u8, flink: u32, blink: u32, records: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::with_capacity(NODE_SIZE);
    be32(&mut out, flink);
    be32(&mut out, blink);
    out.push(kind as u8);
    out.push(height);
    be16(&mut out, records.len() as u16);
    be16(&mut out, 0);
    let mut offsets = Vec::new();
    for record in records {
        offsets.push(out.len() as u16);
        out.extend_from_slice(record);
    }
    offsets.push(out.len() as u16);
    out.resize(NODE_SIZE, 0);
    for (i, offset) in offsets.iter().enumerate() {
        let at = NODE_SIZE - 2 * (i + 1);
        out[at..at + 2].copy_from_slice(&offset.to_be_bytes());
    }
    out
}

/// A B-tree header node.
#[allow(clippy::too_many_arguments)]
fn header_node(
    depth: u16,
    root: u32,
    leaf_records: u32,
    first_leaf: u32,
    last_leaf: u32,
    max_key_length: u16,
    total_nodes: u32,
    used_nodes: u32,
    compare_type: u8,
    attributes: u32,
) -> Vec<u8> {
    let mut header = Vec::new();
    be16(&mut header, depth);
    be32(&mut header, root);
    be32(&mut header, leaf_records);
    be32(&mut header, first_leaf);
    be32(&mut header, last_leaf);
    be16(&mut header, NODE_SIZE as u16);
    be16(&mut header, max_key_length);
    be32(&mut header, total_nodes);
    be32(&mut header, total_nodes - used_nodes);
    be16(&mut header, 0);
    be32(&mut header, total_nodes * NODE_SIZE as u32); // clump size
    header.push(0); // B-tree type: HFS
    header.push(compare_type);
    be32(&mut header, attributes);
    header.extend_from_slice(&[0; 64]);
    let user = vec![0u8; 128];
    // The map record marks the used nodes; it takes the rest of the node.
    let mut map = vec![0u8; NODE_SIZE - 14 - header.len() - user.len() - 8];
    for n in 0..used_nodes as usize {
        map[n / 8] |= 0x80 >> (n % 8);
    }
    node(1, 0, 0, 0, &[header, user, map])
}

/// The built volume.
#[derive(Debug, Clone)]
pub struct Image {
    pub bytes: Vec<u8>,
    /// HFS+ creation date of the volume (needed by aliases that point into it).
    pub created: u32,
}

/// Builds an HFSX volume (case-sensitive HFS+, which every macOS mounts) holding `entries`.
pub fn build(options: &Options, entries: &[Entry]) -> Result<Image> {
    let err = |message: String| Error::Package { format: "dmg", message };
    check_name(&options.volume_name).map_err(|m| err(format!("volume name `{}` {m}", options.volume_name)))?;
    let date = hfs_date(options.epoch);

    // Nodes: the root, then the entries in order (their IDs are `cnid(index)`).
    let mut nodes = vec![Node {
        id: ROOT_ID,
        parent: ROOT_PARENT_ID,
        name: hfs_name(&options.volume_name),
        entry: None,
        valence: 0,
        extent: Extent::default(),
    }];
    let mut ids: BTreeMap<&str, usize> = BTreeMap::new();
    ids.insert("", 0);
    for (i, entry) in entries.iter().enumerate() {
        let (parent_path, name) = entry.path.rsplit_once('/').unwrap_or(("", &entry.path));
        check_name(name).map_err(|m| err(format!("`{}`: `{name}` {m}", entry.path)))?;
        let Some(&parent) = ids.get(parent_path) else {
            return Err(err(format!("`{}` comes before its folder", entry.path)));
        };
        if nodes[parent].entry.is_some_and(|e| e.kind != Kind::Dir) {
            return Err(err(format!("`{parent_path}` is not a folder")));
        }
        if ids.insert(&entry.path, nodes.len()).is_some() {
            return Err(err(format!("`{}` is listed twice", entry.path)));
        }
        nodes[parent].valence += 1;
        let parent_id = nodes[parent].id;
        nodes.push(Node {
            id: cnid(i),
            parent: parent_id,
            name: hfs_name(name),
            entry: Some(entry),
            valence: 0,
            extent: Extent::default(),
        });
    }

    // Block layout: boot blocks and volume header, allocation bitmap, extents tree, catalog, file data, free space,
    // and the last block for the alternate volume header. The catalog's room is estimated from its record sizes
    // (folder records 88 bytes, file records 248, threads 10 plus the name) with twice the leaves for index nodes.
    let leaf_estimate = {
        let sizes = nodes.iter().flat_map(|n| {
            let is_dir = n.entry.is_none_or(|e| e.kind == Kind::Dir);
            let key = 8 + 2 * n.name.len();
            [vec![0; key + if is_dir { 88 } else { 248 }], vec![0; 8 + 10 + 2 * n.name.len()]]
        });
        pack(sizes.collect()).len()
    };
    let catalog_nodes_max = 1 + leaf_estimate * 2 + 2;
    let data_len = |node: &Node| match node.entry.map(|e| &e.kind) {
        Some(Kind::File { data, .. }) => data.len() as u64,
        Some(Kind::Symlink(target)) => target.len() as u64,
        _ => 0,
    };
    let data_blocks: u64 = nodes.iter().map(|n| data_len(n).div_ceil(BLOCK_SIZE as u64)).sum();
    let fixed = 1 + 1 + catalog_nodes_max as u64 + data_blocks + FREE_BLOCKS as u64 + 1;
    let mut bitmap_blocks = 1u64;
    while (fixed + bitmap_blocks).div_ceil(BLOCK_SIZE as u64 * 8) > bitmap_blocks {
        bitmap_blocks += 1;
    }
    let total_blocks =
        u32::try_from(fixed + bitmap_blocks).map_err(|_| err("the volume would exceed 16 TiB".into()))?;
    let bitmap = Extent { start: 1, count: bitmap_blocks as u32 };
    let extents = Extent { start: bitmap.start + bitmap.count, count: 1 };
    let catalog_start = extents.start + extents.count;
    let mut next = catalog_start + catalog_nodes_max as u32;
    for node in nodes.iter_mut() {
        let count = data_len(node).div_ceil(BLOCK_SIZE as u64) as u32;
        if count > 0 {
            node.extent = Extent { start: next, count };
            next += count;
        }
    }

    // Catalog records: a folder or file record keyed by (parent, name), and a thread record keyed by (own ID, "").
    let mut records: Vec<(Key, Vec<u8>)> = Vec::new();
    let (mut files, mut folders) = (0u32, 0u32);
    for node in &nodes {
        let mut data = Vec::new();
        let kind = node.entry.map(|e| &e.kind).unwrap_or(&Kind::Dir);
        let flags = node.entry.map(|e| e.finder_flags).unwrap_or(options.root_finder_flags);
        let (mode, type_creator): (u32, [u8; 8]) = match kind {
            Kind::Dir => (0o040755, [0; 8]),
            Kind::File { mode, .. } => (0o100000 | (mode & 0o7777), [0; 8]),
            Kind::Symlink(_) => (0o120755, *b"slnkrhap"),
        };
        if *kind == Kind::Dir {
            if node.id != ROOT_ID {
                folders += 1;
            }
            be16(&mut data, 1); // folder record
            be16(&mut data, 0);
            be32(&mut data, node.valence);
        } else {
            files += 1;
            be16(&mut data, 2); // file record
            be16(&mut data, 0x0002); // a thread record exists
            be32(&mut data, 0);
        }
        be32(&mut data, node.id);
        for _ in 0..4 {
            be32(&mut data, date); // created, content modified, attributes modified, accessed
        }
        be32(&mut data, 0); // backup date
        bsd_info(&mut data, mode as u16);
        if *kind == Kind::Dir {
            data.extend_from_slice(&[0; 8]); // window bounds
        } else {
            data.extend_from_slice(&type_creator);
        }
        be16(&mut data, flags);
        data.extend_from_slice(&[0; 6]); // location, reserved
        data.extend_from_slice(&[0; 16]); // extended Finder info
        be32(&mut data, 0); // text encoding: Mac Roman
        be32(&mut data, 0);
        if *kind != Kind::Dir {
            fork_data(&mut data, data_len(node), node.extent, 0);
            fork_data(&mut data, 0, Extent::default(), 0); // no resource fork
        }
        records.push((Key { parent: node.parent, name: node.name.clone() }, data));
        let mut thread = Vec::new();
        be16(&mut thread, if *kind == Kind::Dir { 3 } else { 4 });
        be16(&mut thread, 0);
        be32(&mut thread, node.parent);
        be16(&mut thread, node.name.len() as u16);
        for u in &node.name {
            be16(&mut thread, *u);
        }
        records.push((Key { parent: node.id, name: Vec::new() }, thread));
    }
    records.sort_by(|a, b| a.0.cmp(&b.0));

    // Catalog B-tree: leaves, then index levels up to a single root.
    let leaf_records = records.len() as u32;
    let serialised: Vec<(Key, Vec<u8>)> = records
        .into_iter()
        .map(|(key, data)| {
            let mut out = Vec::new();
            key.write(&mut out);
            out.extend_from_slice(&data);
            (key, out)
        })
        .collect();
    let mut levels: Vec<Vec<(Key, Vec<Vec<u8>>)>> = Vec::new();
    let mut level: Vec<(Key, Vec<u8>)> = serialised;
    loop {
        let keys: Vec<Key> = level.iter().map(|(k, _)| k.clone()).collect();
        let packed = pack(level.into_iter().map(|(_, r)| r).collect());
        let mut i = 0;
        let mut nodes_here = Vec::new();
        for records in packed {
            let first = keys[i].clone();
            i += records.len();
            nodes_here.push((first, records));
        }
        let count = nodes_here.len();
        levels.push(nodes_here);
        if count == 1 {
            break;
        }
        // Node numbers are assigned after all levels are known; index records hold the child's position for now.
        level = levels
            .last()
            .map(|l| {
                l.iter()
                    .enumerate()
                    .map(|(n, (key, _))| {
                        let mut out = Vec::new();
                        key.write(&mut out);
                        be32(&mut out, n as u32);
                        (key.clone(), out)
                    })
                    .collect()
            })
            .unwrap_or_default();
    }
    // Numbering: header 0, then the leaves, then each index level upwards.
    let mut first_node = Vec::new();
    let mut n = 1u32;
    for l in &levels {
        first_node.push(n);
        n += l.len() as u32;
    }
    let total_catalog_nodes = n;
    if total_catalog_nodes as usize > catalog_nodes_max {
        return Err(err("internal error: the catalog outgrew its reservation".into()));
    }
    let mut catalog = header_node(
        levels.len() as u16,
        first_node[levels.len() - 1],
        leaf_records,
        first_node[0],
        first_node[0] + levels[0].len() as u32 - 1,
        516,
        catalog_nodes_max as u32,
        total_catalog_nodes,
        0xBC, // binary compare (HFSX)
        0x6,  // big keys, variable-length index keys
    );
    for (height, l) in levels.iter().enumerate() {
        let base = first_node[height];
        for (i, (_, recs)) in l.iter().enumerate() {
            let recs: Vec<Vec<u8>> = if height == 0 {
                recs.clone()
            } else {
                // Turn child positions into node numbers.
                recs.iter()
                    .map(|r| {
                        let mut r = r.clone();
                        let at = r.len() - 4;
                        let pos = u32::from_be_bytes([r[at], r[at + 1], r[at + 2], r[at + 3]]);
                        r[at..].copy_from_slice(&(first_node[height - 1] + pos).to_be_bytes());
                        r
                    })
                    .collect()
            };
            let id = base + i as u32;
            let flink = if i + 1 < l.len() { id + 1 } else { 0 };
            let blink = if i > 0 { id - 1 } else { 0 };
            let kind = if height == 0 { -1 } else { 0 };
            catalog.extend_from_slice(&node(kind, height as u8 + 1, flink, blink, &recs));
        }
    }
    // Reserved nodes beyond the tree stay zero and free in the map.
    catalog.resize(catalog_nodes_max * NODE_SIZE, 0);
    let extents_tree = header_node(0, 0, 0, 0, 0, 10, 1, 1, 0, 0x2);

    // The image.
    let size = total_blocks as usize * BLOCK_SIZE as usize;
    let mut image = vec![0u8; size];
    let block = |b: u32| b as usize * BLOCK_SIZE as usize;
    image[block(extents.start)..block(extents.start) + NODE_SIZE].copy_from_slice(&extents_tree);
    image[block(catalog_start)..block(catalog_start) + catalog.len()].copy_from_slice(&catalog);
    for node in &nodes {
        let bytes: &[u8] = match node.entry.map(|e| &e.kind) {
            Some(Kind::File { data, .. }) => data,
            Some(Kind::Symlink(target)) => target.as_bytes(),
            _ => continue,
        };
        if !bytes.is_empty() {
            let at = block(node.extent.start);
            image[at..at + bytes.len()].copy_from_slice(bytes);
        }
    }
    // Allocation bitmap: everything up to the free space, and the last block.
    let used = next;
    let mut bits = vec![0u8; bitmap.count as usize * BLOCK_SIZE as usize];
    for b in (0..used).chain(std::iter::once(total_blocks - 1)) {
        bits[b as usize / 8] |= 0x80 >> (b % 8);
    }
    image[block(bitmap.start)..block(bitmap.start) + bits.len()].copy_from_slice(&bits);
    let free = total_blocks - used - 1;

    let uuid = {
        use sha2::Digest;
        let digest = sha2::Sha256::digest(&image);
        [
            u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]),
            u32::from_be_bytes([digest[4], digest[5], digest[6], digest[7]]),
        ]
    };
    let mut vh = Vec::with_capacity(512);
    be16(&mut vh, 0x4858); // `HX`
    be16(&mut vh, 5);
    be32(&mut vh, 1 << 8 | 1 << 31); // cleanly unmounted; unused nodes are zeroed
    vh.extend_from_slice(b"10.0");
    be32(&mut vh, 0); // no journal
    for _ in 0..4 {
        be32(&mut vh, date); // created, modified, backed up, checked
    }
    be32(&mut vh, files);
    be32(&mut vh, folders);
    be32(&mut vh, BLOCK_SIZE);
    be32(&mut vh, total_blocks);
    be32(&mut vh, free);
    be32(&mut vh, used); // next allocation
    be32(&mut vh, 65536); // resource fork clump
    be32(&mut vh, 65536); // data fork clump
    be32(&mut vh, cnid(entries.len()));
    be32(&mut vh, 1); // write count
    be64(&mut vh, 1); // encodings used: Mac Roman
    // Finder info: [2] is the folder Finder opens on mount (the root); [6..8] the volume's 64-bit ID.
    for v in [0, 0, ROOT_ID, 0, 0, 0, uuid[0], uuid[1]] {
        be32(&mut vh, v);
    }
    fork_data(&mut vh, bits.len() as u64, bitmap, bits.len() as u32);
    fork_data(&mut vh, NODE_SIZE as u64, extents, NODE_SIZE as u32);
    fork_data(
        &mut vh,
        catalog.len() as u64,
        Extent { start: catalog_start, count: catalog_nodes_max as u32 },
        catalog.len() as u32,
    );
    fork_data(&mut vh, 0, Extent::default(), 0); // attributes file
    fork_data(&mut vh, 0, Extent::default(), 0); // startup file
    debug_assert_eq!(vh.len(), 512);
    image[1024..1536].copy_from_slice(&vh);
    image[size - 1024..size - 512].copy_from_slice(&vh);
    Ok(Image { bytes: image, created: date })
}

/// The longest HFS+ name, in UTF-16 code units.
pub const MAX_NAME: usize = 255;

/// Whether HFS+ can store `name` as one path component exactly: names are at most 255 UTF-16 units once
/// decomposed (HFS+ keeps names in canonical decomposition), hold no `:` (Finder shows it as `/`), no control
/// characters, and no characters that macOS's HFS+ decomposition leaves composed (U+2000–U+2FFF, U+F900–U+FAFF,
/// U+2F800–U+2FAFF) when Unicode decomposes them, as such a name would not be found again.
pub fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("is empty".into());
    }
    if name == "." || name == ".." {
        return Err("is not a file name".into());
    }
    if let Some(c) = name.chars().find(|c| c.is_control()) {
        return Err(format!("contains the control character U+{:04X}", c as u32));
    }
    if name.contains(':') {
        return Err("contains `:`, which HFS+ cannot store (Finder shows it as `/`)".into());
    }
    let excluded = |c: char| matches!(c as u32, 0x2000..=0x2FFF | 0xF900..=0xFAFF | 0x2F800..=0x2FAFF);
    if let Some(c) = name.chars().find(|c| excluded(*c) && c.to_string().nfd().ne(std::iter::once(*c))) {
        return Err(format!("contains `{c}` (U+{:04X}), which HFS+ stores differently than other systems", c as u32));
    }
    let units = name.nfd().map(char::len_utf16).sum::<usize>();
    if units > MAX_NAME {
        return Err(format!("is {units} UTF-16 units long once decomposed; HFS+ names hold at most {MAX_NAME}"));
    }
    Ok(())
}

/// A name as HFS+ stores it: canonically decomposed UTF-16.
pub fn hfs_name(name: &str) -> Vec<u16> {
    name.nfd().collect::<String>().encode_utf16().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(check_name("Hello App.app").is_ok());
        assert!(check_name("Café.app").is_ok());
        assert_eq!(hfs_name("é"), [0x65, 0x301]);
        assert!(check_name("a:b").unwrap_err().contains("`:`"));
        assert!(check_name("a\u{7}").unwrap_err().contains("U+0007"));
        assert!(check_name(&"x".repeat(256)).unwrap_err().contains("256 UTF-16"));
        assert!(check_name(&"é".repeat(200)).unwrap_err().contains("400 UTF-16"));
        assert!(check_name("\u{2126}").is_err(), "OHM SIGN decomposes to OMEGA in Unicode but not in HFS+");
    }
}

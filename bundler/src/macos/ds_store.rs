//! `.DS_Store` files, which hold Finder's view settings for a folder: here the disk image window's size, position,
//! icon size, background and icon positions.
//!
//! The format (as documented by the community, e.g. the `ds_store` Python package and Mark Mentovai's and Wim
//! Lewis's notes): a 4-byte `00 00 00 01` prefix, then a buddy allocator whose address space starts after it. Its
//! header (`Bud1`) points at the bookkeeping block, which lists every block's address (`address | log2(size)`), a
//! table of contents (`DSDB` → the B-tree's master block) and the free lists of each power-of-two size. The master
//! block names the B-tree's root node; a leaf node holds the records sorted by file name (case-insensitively) and
//! four-character code. Records are `(file name, code, type, value)`, e.g. `("Hello.app", "Iloc", blob)`.

use plist::{Dictionary, Value as Plist};

use crate::error::{Error, Result};

/// A record value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `long`: a 32-bit integer.
    Long(u32),
    /// `bool`.
    Bool(bool),
    /// `blob`: bytes (often a binary plist).
    Blob(Vec<u8>),
    /// `ustr`: a UTF-16 string.
    Ustr(String),
}

/// One record.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// The file the record describes (`.` for the folder itself).
    pub name: String,
    /// Four-character code, e.g. `Iloc`.
    pub code: [u8; 4],
    pub value: Value,
}

fn utf16(s: &str) -> Vec<u8> {
    s.encode_utf16().flat_map(u16::to_be_bytes).collect()
}

impl Record {
    fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&(self.name.encode_utf16().count() as u32).to_be_bytes());
        out.extend_from_slice(&utf16(&self.name));
        out.extend_from_slice(&self.code);
        match &self.value {
            Value::Long(v) => {
                out.extend_from_slice(b"long");
                out.extend_from_slice(&v.to_be_bytes());
            }
            Value::Bool(v) => {
                out.extend_from_slice(b"bool");
                out.push(u8::from(*v));
            }
            Value::Blob(b) => {
                out.extend_from_slice(b"blob");
                out.extend_from_slice(&(b.len() as u32).to_be_bytes());
                out.extend_from_slice(b);
            }
            Value::Ustr(s) => {
                out.extend_from_slice(b"ustr");
                out.extend_from_slice(&(s.encode_utf16().count() as u32).to_be_bytes());
                out.extend_from_slice(&utf16(s));
            }
        }
    }
}

/// `Iloc`: an icon's centre in the window.
pub fn icon_location(name: &str, x: u32, y: u32) -> Record {
    let mut blob = Vec::with_capacity(16);
    blob.extend_from_slice(&x.to_be_bytes());
    blob.extend_from_slice(&y.to_be_bytes());
    blob.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0]);
    Record { name: name.into(), code: *b"Iloc", value: Value::Blob(blob) }
}

fn binary_plist(dict: Dictionary) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    Plist::Dictionary(dict)
        .to_writer_binary(&mut out)
        .map_err(|e| Error::Package { format: "dmg", message: format!("could not write a .DS_Store plist: {e}") })?;
    Ok(out)
}

/// The window: `bwsp` (bounds, no toolbar or sidebar) and `icvp` (icon view: icon size, background).
/// `background_alias` is an alias record of the background picture, if any.
pub fn window(
    position: [u32; 2],
    size: [u32; 2],
    icon_size: u32,
    background_alias: Option<Vec<u8>>,
) -> Result<Vec<Record>> {
    let mut bwsp = Dictionary::new();
    bwsp.insert("ContainerShowSidebar".into(), Plist::Boolean(false));
    bwsp.insert("PreviewPaneVisibility".into(), Plist::Boolean(false));
    bwsp.insert("ShowPathbar".into(), Plist::Boolean(false));
    bwsp.insert("ShowSidebar".into(), Plist::Boolean(false));
    bwsp.insert("ShowStatusBar".into(), Plist::Boolean(false));
    bwsp.insert("ShowTabView".into(), Plist::Boolean(false));
    bwsp.insert("ShowToolbar".into(), Plist::Boolean(false));
    bwsp.insert("SidebarWidth".into(), Plist::Integer(0.into()));
    bwsp.insert(
        "WindowBounds".into(),
        Plist::String(format!("{{{{{}, {}}}, {{{}, {}}}}}", position[0], position[1], size[0], size[1])),
    );
    let mut icvp = Dictionary::new();
    icvp.insert("arrangeBy".into(), Plist::String("none".into()));
    for key in ["backgroundColorBlue", "backgroundColorGreen", "backgroundColorRed"] {
        icvp.insert(key.into(), Plist::Real(1.0));
    }
    let background_type = match background_alias {
        Some(alias) => {
            icvp.insert("backgroundImageAlias".into(), Plist::Data(alias));
            2 // picture
        }
        None => 1, // colour (white)
    };
    icvp.insert("backgroundType".into(), Plist::Integer(background_type.into()));
    icvp.insert("gridOffsetX".into(), Plist::Real(0.0));
    icvp.insert("gridOffsetY".into(), Plist::Real(0.0));
    icvp.insert("gridSpacing".into(), Plist::Real(100.0));
    icvp.insert("iconSize".into(), Plist::Real(f64::from(icon_size)));
    icvp.insert("labelOnBottom".into(), Plist::Boolean(true));
    icvp.insert("showIconPreview".into(), Plist::Boolean(true));
    icvp.insert("showItemInfo".into(), Plist::Boolean(false));
    icvp.insert("textSize".into(), Plist::Real(12.0));
    icvp.insert("viewOptionsVersion".into(), Plist::Integer(1.into()));
    Ok(vec![
        Record { name: ".".into(), code: *b"bwsp", value: Value::Blob(binary_plist(bwsp)?) },
        Record { name: ".".into(), code: *b"icvp", value: Value::Blob(binary_plist(icvp)?) },
        Record { name: ".".into(), code: *b"vSrn", value: Value::Long(1) },
    ])
}

/// B-tree page size.
const PAGE_SIZE: usize = 4096;

/// A buddy allocator over a 2 GiB address space, as Finder creates it.
struct Buddy {
    /// Free block addresses by log2(size).
    free: Vec<Vec<u32>>,
}

impl Buddy {
    fn new() -> Buddy {
        let mut free = vec![Vec::new(); 32];
        free[31].push(0);
        Buddy { free }
    }

    /// Allocates a block of at least `size` bytes; returns (address, log2 size).
    fn allocate(&mut self, size: usize) -> (u32, u32) {
        let want = size.next_power_of_two().trailing_zeros().max(5);
        let mut k = want;
        while self.free[k as usize].is_empty() {
            k += 1;
        }
        self.free[k as usize].sort_unstable();
        let addr = self.free[k as usize].remove(0);
        while k > want {
            k -= 1;
            // Keep the lower half, free the upper buddy.
            self.free[k as usize].push(addr + (1 << k));
        }
        (addr, want)
    }
}

/// Serialises records into a `.DS_Store` file.
pub fn write(mut records: Vec<Record>) -> Result<Vec<u8>> {
    records.sort_by(|a, b| a.name.to_lowercase().cmp(&b.name.to_lowercase()).then(a.code.cmp(&b.code)));
    let mut node = Vec::new();
    node.extend_from_slice(&0u32.to_be_bytes()); // a leaf
    node.extend_from_slice(&(records.len() as u32).to_be_bytes());
    for record in &records {
        record.write(&mut node);
    }
    if node.len() > PAGE_SIZE {
        return Err(Error::Package {
            format: "dmg",
            message: format!("the .DS_Store records take {} bytes, more than one {PAGE_SIZE}-byte page", node.len()),
        });
    }

    let mut buddy = Buddy::new();
    let header = buddy.allocate(32); // the `Bud1` header occupies the first 32 bytes
    debug_assert_eq!(header.0, 0);
    let root = buddy.allocate(2048);
    let master = buddy.allocate(32);
    let leaf = buddy.allocate(PAGE_SIZE);
    let blocks = [root, master, leaf];

    let mut master_block = Vec::new();
    for v in [2u32, 0, records.len() as u32, 1, PAGE_SIZE as u32] {
        // root node = block 2, no internal levels, record count, node count, page size
        master_block.extend_from_slice(&v.to_be_bytes());
    }

    let mut root_block = Vec::new();
    root_block.extend_from_slice(&(blocks.len() as u32).to_be_bytes());
    root_block.extend_from_slice(&0u32.to_be_bytes());
    for i in 0..256 {
        let v = blocks.get(i).map(|(addr, log)| addr | log).unwrap_or(0);
        root_block.extend_from_slice(&v.to_be_bytes());
    }
    root_block.extend_from_slice(&1u32.to_be_bytes()); // table of contents: one entry
    root_block.push(4);
    root_block.extend_from_slice(b"DSDB");
    root_block.extend_from_slice(&1u32.to_be_bytes()); // block 1
    for list in &mut buddy.free {
        list.sort_unstable();
        root_block.extend_from_slice(&(list.len() as u32).to_be_bytes());
        for addr in list.iter() {
            root_block.extend_from_slice(&addr.to_be_bytes());
        }
    }
    debug_assert!(root_block.len() <= 2048);

    let end = blocks.iter().map(|(addr, log)| addr + (1 << log)).max().unwrap_or(0) as usize;
    let mut out = vec![0u8; 4 + end];
    out[..4].copy_from_slice(&1u32.to_be_bytes());
    let mut bud = Vec::new();
    bud.extend_from_slice(b"Bud1");
    bud.extend_from_slice(&root.0.to_be_bytes());
    bud.extend_from_slice(&2048u32.to_be_bytes());
    bud.extend_from_slice(&root.0.to_be_bytes());
    bud.extend_from_slice(&[0, 0, 0x10, 0x0c, 0, 0, 0, 0x87, 0, 0, 0x20, 0x0b, 0, 0, 0, 0]);
    out[4..4 + bud.len()].copy_from_slice(&bud);
    for ((addr, _), data) in blocks.iter().zip([&root_block, &master_block, &node]) {
        let at = 4 + *addr as usize;
        out[at..at + data.len()].copy_from_slice(data);
    }
    Ok(out)
}

/// A Finder alias record (version 2) of a file on the disk image, as the `icvp` background needs. Finder resolves
/// it by volume name and creation date, then by the file's catalog node ID or path.
#[derive(Debug, Clone)]
pub struct AliasTarget<'a> {
    pub volume_name: &'a str,
    /// HFS+ date of the volume's creation.
    pub volume_created: u32,
    /// Catalog node IDs of the file's folder and of the file.
    pub folder_id: u32,
    pub file_id: u32,
    /// Folder name and file name.
    pub folder_name: &'a str,
    pub file_name: &'a str,
    /// HFS+ date of the file's creation.
    pub file_created: u32,
}

fn pascal(s: &str, field: usize) -> Vec<u8> {
    let bytes: Vec<u8> = s.bytes().take(field - 1).collect();
    let mut out = vec![bytes.len() as u8];
    out.extend_from_slice(&bytes);
    out.resize(field, 0);
    out
}

/// Builds the alias record.
pub fn alias(t: &AliasTarget) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&[0; 4]); // application info
    b.extend_from_slice(&0u16.to_be_bytes()); // record size, set below
    b.extend_from_slice(&2u16.to_be_bytes()); // version
    b.extend_from_slice(&0u16.to_be_bytes()); // kind: file
    b.extend_from_slice(&pascal(&t.volume_name.replace(':', "/"), 28));
    b.extend_from_slice(&t.volume_created.to_be_bytes());
    b.extend_from_slice(b"H+");
    b.extend_from_slice(&5u16.to_be_bytes()); // an ejectable disk
    b.extend_from_slice(&t.folder_id.to_be_bytes());
    b.extend_from_slice(&pascal(&t.file_name.replace(':', "/"), 64));
    b.extend_from_slice(&t.file_id.to_be_bytes());
    b.extend_from_slice(&t.file_created.to_be_bytes());
    b.extend_from_slice(&[0; 8]); // creator and type codes
    b.extend_from_slice(&(-1i16).to_be_bytes()); // levels from
    b.extend_from_slice(&(-1i16).to_be_bytes()); // levels to
    b.extend_from_slice(&0u32.to_be_bytes()); // volume attributes
    b.extend_from_slice(&0u16.to_be_bytes()); // file system ID
    b.extend_from_slice(&[0; 10]);
    let tag = |b: &mut Vec<u8>, tag: i16, data: &[u8]| {
        b.extend_from_slice(&tag.to_be_bytes());
        b.extend_from_slice(&(data.len() as u16).to_be_bytes());
        b.extend_from_slice(data);
        if !data.len().is_multiple_of(2) {
            b.push(0);
        }
    };
    tag(&mut b, 0, t.folder_name.as_bytes()); // Carbon folder name
    tag(&mut b, 16, &(u64::from(t.volume_created) << 16).to_be_bytes()); // high-resolution volume date
    tag(&mut b, 17, &(u64::from(t.file_created) << 16).to_be_bytes()); // high-resolution file date
    tag(&mut b, 1, &t.folder_id.to_be_bytes()); // catalog node ID path
    tag(&mut b, 2, format!("{}:{}:{}", t.volume_name, t.folder_name, t.file_name).as_bytes()); // Carbon path
    let unicode = |s: &str| {
        let mut v = (s.encode_utf16().count() as u16).to_be_bytes().to_vec();
        v.extend_from_slice(&utf16(s));
        v
    };
    tag(&mut b, 14, &unicode(t.file_name));
    tag(&mut b, 15, &unicode(t.volume_name));
    tag(&mut b, 18, format!("/{}/{}", t.folder_name, t.file_name).as_bytes()); // POSIX path on the volume
    tag(&mut b, 19, format!("/Volumes/{}", t.volume_name).as_bytes()); // mount point
    b.extend_from_slice(&(-1i16).to_be_bytes());
    b.extend_from_slice(&0u16.to_be_bytes());
    let len = b.len() as u16;
    b[4..6].copy_from_slice(&len.to_be_bytes());
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u32_at(b: &[u8], at: usize) -> u32 {
        u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
    }

    /// Walks the file the way a reader does: header → bookkeeping block → `DSDB` → leaf → records.
    #[test]
    fn reader_finds_records_through_the_allocator() {
        let mut records = window([100, 120], [660, 400], 128, None).unwrap_or_else(|e| panic!("{e}"));
        records.push(icon_location("Hello.app", 180, 170));
        records.push(icon_location("Applications", 480, 170));
        let file = write(records).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(&file[..8], b"\0\0\0\x01Bud1");
        let root = u32_at(&file, 8) as usize;
        assert_eq!(root, u32_at(&file, 16) as usize);
        let block = |b: &[u8], i: usize| {
            let v = u32_at(b, 4 + root + 8 + 4 * i);
            (4 + (v & !31) as usize, 1usize << (v & 31))
        };
        assert_eq!(u32_at(&file, 4 + root), 3);
        let toc = 4 + root + 8 + 4 * 256;
        assert_eq!(u32_at(&file, toc), 1);
        assert_eq!(&file[toc + 4..toc + 9], b"\x04DSDB");
        let (master, _) = block(&file, u32_at(&file, toc + 9) as usize);
        let (leaf, size) = block(&file, u32_at(&file, master) as usize);
        assert_eq!(size, 4096);
        assert_eq!(u32_at(&file, master + 8), 5, "record count");
        assert_eq!(u32_at(&file, leaf), 0, "a leaf");
        assert_eq!(u32_at(&file, leaf + 4), 5);
        // First record: "." bwsp blob holding a binary plist.
        assert_eq!(u32_at(&file, leaf + 8), 1);
        assert_eq!(&file[leaf + 12..leaf + 14], [0, b'.']);
        assert_eq!(&file[leaf + 14..leaf + 22], b"bwspblob");
        let len = u32_at(&file, leaf + 22) as usize;
        let plist = Plist::from_reader(std::io::Cursor::new(&file[leaf + 26..leaf + 26 + len]))
            .unwrap_or_else(|e| panic!("{e}"));
        let bounds = plist.as_dictionary().and_then(|d| d.get("WindowBounds")).and_then(Plist::as_string);
        assert_eq!(bounds, Some("{{100, 120}, {660, 400}}"));
        // Every allocated block lies inside the file, aligned to its size.
        for i in 0..3 {
            let (at, size) = block(&file, i);
            assert!(at + size <= file.len() && (at - 4) % size == 0);
        }
    }
}

//! UDIF disk images (`.dmg`), `UDZO` flavour: the raw disk is cut into 1 MiB chunks, each stored zlib-compressed (or
//! as a zero-fill run when it is all zeros), followed by an XML property list whose `resource-fork.blkx` entry holds
//! the `mish` block table (where each chunk lives), and the 512-byte `koly` trailer that points at both. Checksums are
//! CRC-32, as `hdiutil` writes them. The disk holds one partition, the HFS+ volume, without a partition map (what
//! `hdiutil create -layout NONE` makes).

use std::io::Write;

use plist::{Dictionary, Value};

use crate::error::{Error, Result};

const SECTOR: usize = 512;
/// Sectors per chunk (1 MiB), `hdiutil`'s default for `UDZO`.
const CHUNK_SECTORS: usize = 2048;

const CHUNK_ZERO: u32 = 0x0000_0000;
const CHUNK_ZLIB: u32 = 0x8000_0005;
const CHUNK_END: u32 = 0xffff_ffff;
const CHECKSUM_CRC32: u32 = 2;

fn be32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_be_bytes());
}

fn be64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_be_bytes());
}

/// A UDIF checksum field: type, bit count, and 128 bytes of which the first 4 hold a CRC-32.
fn checksum(out: &mut Vec<u8>, crc: u32) {
    be32(out, CHECKSUM_CRC32);
    be32(out, 32);
    be32(out, crc);
    out.extend_from_slice(&[0; 124]);
}

/// Wraps a raw volume (a multiple of 512 bytes) into a `UDZO` image. `partition` names it, e.g. `Apple_HFSX`;
/// `segment_id` is the image's 16-byte identifier (derived from the content, for reproducibility).
pub fn udzo(volume: &[u8], partition: &str, segment_id: [u8; 16]) -> Result<Vec<u8>> {
    if !volume.len().is_multiple_of(SECTOR) {
        return Err(Error::Package { format: "dmg", message: "the volume is not a whole number of sectors".into() });
    }
    let sectors = (volume.len() / SECTOR) as u64;
    let mut data = Vec::new();
    let mut chunks = Vec::new();
    for (i, chunk) in volume.chunks(CHUNK_SECTORS * SECTOR).enumerate() {
        let first = (i * CHUNK_SECTORS) as u64;
        let count = (chunk.len() / SECTOR) as u64;
        if chunk.iter().all(|b| *b == 0) {
            chunks.push((CHUNK_ZERO, first, count, data.len() as u64, 0u64));
            continue;
        }
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        let compressed = z
            .write_all(chunk)
            .and_then(|()| z.finish())
            .map_err(|e| Error::Package { format: "dmg", message: format!("zlib: {e}") })?;
        chunks.push((CHUNK_ZLIB, first, count, data.len() as u64, compressed.len() as u64));
        data.extend_from_slice(&compressed);
    }
    chunks.push((CHUNK_END, sectors, 0, data.len() as u64, 0));

    let volume_crc = crc32fast::hash(volume);
    let mut mish = Vec::new();
    mish.extend_from_slice(b"mish");
    be32(&mut mish, 1); // version
    be64(&mut mish, 0); // first sector
    be64(&mut mish, sectors);
    be64(&mut mish, 0); // data offset
    be32(&mut mish, 0x208); // buffers needed, as hdiutil writes
    be32(&mut mish, 0); // block descriptors
    mish.extend_from_slice(&[0; 24]);
    checksum(&mut mish, volume_crc);
    be32(&mut mish, chunks.len() as u32);
    for (kind, first, count, offset, length) in &chunks {
        be32(&mut mish, *kind);
        be32(&mut mish, 0); // comment
        be64(&mut mish, *first);
        be64(&mut mish, *count);
        be64(&mut mish, *offset);
        be64(&mut mish, *length);
    }

    let mut blkx = Dictionary::new();
    blkx.insert("Attributes".into(), Value::String("0x0050".into()));
    blkx.insert("CFName".into(), Value::String(format!("whole disk ({partition} : 0)")));
    blkx.insert("Data".into(), Value::Data(mish));
    blkx.insert("ID".into(), Value::String("-1".into()));
    blkx.insert("Name".into(), Value::String(format!("whole disk ({partition} : 0)")));
    let mut fork = Dictionary::new();
    fork.insert("blkx".into(), Value::Array(vec![Value::Dictionary(blkx)]));
    let mut root = Dictionary::new();
    root.insert("resource-fork".into(), Value::Dictionary(fork));
    let mut xml = Vec::new();
    Value::Dictionary(root)
        .to_writer_xml(&mut xml)
        .map_err(|e| Error::Package { format: "dmg", message: format!("could not write the image plist: {e}") })?;
    xml.push(b'\n');

    let data_crc = crc32fast::hash(&data);
    let data_len = data.len() as u64;
    let mut out = data;
    let xml_offset = out.len() as u64;
    out.extend_from_slice(&xml);
    // The master checksum is the CRC-32 of the block tables' CRC-32s.
    let master = crc32fast::hash(&volume_crc.to_be_bytes());

    let mut koly = Vec::with_capacity(512);
    koly.extend_from_slice(b"koly");
    be32(&mut koly, 4); // version
    be32(&mut koly, 512); // header size
    be32(&mut koly, 1); // flags: flattened
    be64(&mut koly, 0); // running data fork offset
    be64(&mut koly, 0); // data fork offset
    be64(&mut koly, data_len);
    be64(&mut koly, 0); // resource fork offset
    be64(&mut koly, 0); // resource fork length
    be32(&mut koly, 1); // segment number
    be32(&mut koly, 1); // segment count
    koly.extend_from_slice(&segment_id);
    checksum(&mut koly, data_crc);
    be64(&mut koly, xml_offset);
    be64(&mut koly, xml.len() as u64);
    koly.extend_from_slice(&[0; 120]);
    checksum(&mut koly, master);
    be32(&mut koly, 1); // image variant: device image
    be64(&mut koly, sectors);
    koly.extend_from_slice(&[0; 12]);
    debug_assert_eq!(koly.len(), 512);
    out.extend_from_slice(&koly);
    Ok(out)
}

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

/// A chunk zlib-compressed, or `None` when it is all zeros (stored as a zero-fill run).
fn compress(chunk: &[u8]) -> std::io::Result<Option<Vec<u8>>> {
    if chunk.iter().all(|b| *b == 0) {
        return Ok(None);
    }
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    z.write_all(chunk)?;
    z.finish().map(Some)
}

/// Wraps a raw volume (a multiple of 512 bytes) into a `UDZO` image. `partition` names it, e.g. `Apple_HFSX`;
/// `segment_id` is the image's 16-byte identifier (derived from the content, for reproducibility).
pub fn udzo(volume: &[u8], partition: &str, segment_id: [u8; 16]) -> Result<Vec<u8>> {
    let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1).clamp(1, 8);
    udzo_with_threads(volume, partition, segment_id, threads)
}

fn udzo_with_threads(volume: &[u8], partition: &str, segment_id: [u8; 16], threads: usize) -> Result<Vec<u8>> {
    if !volume.len().is_multiple_of(SECTOR) {
        return Err(Error::Package { format: "dmg", message: "the volume is not a whole number of sectors".into() });
    }
    let sectors = (volume.len() / SECTOR) as u64;
    // Chunks are compressed independently, so threads share them out without changing the output.
    let pieces: Vec<&[u8]> = volume.chunks(CHUNK_SECTORS * SECTOR).collect();
    let per_thread = pieces.len().div_ceil(threads).max(1);
    let compressed: Vec<std::io::Result<Option<Vec<u8>>>> = std::thread::scope(|scope| {
        let handles: Vec<_> = pieces
            .chunks(per_thread)
            .map(|group| scope.spawn(move || group.iter().map(|chunk| compress(chunk)).collect::<Vec<_>>()))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| {
                h.join().unwrap_or_else(|_| vec![Err(std::io::Error::other("a compression thread panicked"))])
            })
            .collect()
    });
    let mut data = Vec::new();
    let mut chunks = Vec::new();
    for (i, (chunk, compressed)) in pieces.iter().zip(compressed).enumerate() {
        let first = (i * CHUNK_SECTORS) as u64;
        let count = (chunk.len() / SECTOR) as u64;
        match compressed.map_err(|e| Error::Package { format: "dmg", message: format!("zlib: {e}") })? {
            None => chunks.push((CHUNK_ZERO, first, count, data.len() as u64, 0u64)),
            Some(bytes) => {
                chunks.push((CHUNK_ZLIB, first, count, data.len() as u64, bytes.len() as u64));
                data.extend_from_slice(&bytes);
            }
        }
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

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    fn be64_at(b: &[u8], at: usize) -> u64 {
        u64::from_be_bytes(b[at..at + 8].try_into().unwrap_or_default())
    }

    /// Reads the image back through its `koly` trailer and `mish` table, as a UDIF reader does.
    fn read_back(image: &[u8]) -> Vec<u8> {
        let koly = &image[image.len() - 512..];
        assert_eq!(&koly[..4], b"koly");
        let (xml_at, xml_len) = (be64_at(koly, 216) as usize, be64_at(koly, 224) as usize);
        let plist = Value::from_reader_xml(&image[xml_at..xml_at + xml_len]).unwrap_or_else(|e| panic!("{e}"));
        let blkx = plist
            .as_dictionary()
            .and_then(|d| d.get("resource-fork"))
            .and_then(Value::as_dictionary)
            .and_then(|d| d.get("blkx"))
            .and_then(Value::as_array)
            .unwrap_or_else(|| panic!("no blkx"));
        let mish = blkx[0].as_dictionary().and_then(|d| d.get("Data")).and_then(Value::as_data).unwrap_or_default();
        assert_eq!(&mish[..4], b"mish");
        let count = u32::from_be_bytes(mish[200..204].try_into().unwrap_or_default()) as usize;
        let mut out = Vec::new();
        for i in 0..count {
            let c = &mish[204 + 40 * i..244 + 40 * i];
            let kind = u32::from_be_bytes(c[..4].try_into().unwrap_or_default());
            let (sectors, offset, length) = (be64_at(c, 16) as usize, be64_at(c, 24) as usize, be64_at(c, 32) as usize);
            match kind {
                CHUNK_ZERO => out.resize(out.len() + sectors * SECTOR, 0),
                CHUNK_ZLIB => {
                    let mut z = flate2::read::ZlibDecoder::new(&image[offset..offset + length]);
                    z.read_to_end(&mut out).unwrap_or_else(|e| panic!("{e}"));
                }
                CHUNK_END => break,
                other => panic!("unexpected chunk type {other:#x}"),
            }
        }
        out
    }

    #[test]
    fn chunks_read_back_and_do_not_depend_on_threads() {
        // Three and a half chunks: data, zeros, data, and a short tail.
        let mut volume = vec![0u8; (CHUNK_SECTORS * 3 + CHUNK_SECTORS / 2) * SECTOR];
        for (i, b) in volume.iter_mut().enumerate() {
            let chunk = i / (CHUNK_SECTORS * SECTOR);
            if chunk != 1 {
                *b = (i % 251) as u8;
            }
        }
        let one = udzo_with_threads(&volume, "Apple_HFSX", [7; 16], 1).unwrap_or_else(|e| panic!("{e}"));
        let four = udzo_with_threads(&volume, "Apple_HFSX", [7; 16], 4).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(one, four);
        assert_eq!(read_back(&one), volume);
    }
}

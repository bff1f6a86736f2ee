//! `GgufFile`: a memory-mapped GGUF file with its parsed header and tensor index.
//!
//! Layout (v2/v3, little-endian): magic `GGUF`, version u32, tensor count u64,
//! metadata count u64, the metadata key/value pairs, the tensor infos (name, dims,
//! type, offset relative to the data section), padding to `general.alignment`
//! (default 32), then the tensor data. Every offset and size is validated at open
//! time, so `tensor_data` can hand out slices without further checks.

use std::collections::HashMap;
use std::path::Path;

use crate::cursor::Cursor;
use crate::error::GgufError;
use crate::kernels::{tiles16, Isa, Layout};
use crate::types::GgmlType;
use crate::value::Value;

/// ggml tensors have at most four dimensions.
pub const MAX_DIMS: usize = 4;
/// Alignment of the data section and of every tensor when `general.alignment` is absent.
pub const DEFAULT_ALIGNMENT: u64 = 32;

/// Where a tensor lives and how it is shaped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorInfo {
    pub name: String,
    /// ggml order: `dims[0]` is the row length (the fastest-varying dimension).
    pub dims: Vec<u64>,
    pub dtype: GgmlType,
    /// Absolute byte offset of the tensor's data in the file.
    pub offset: u64,
    /// How the data is laid out in memory: as in the file unless the file was
    /// opened with [`GgufFile::open_for_kernels`] and the tensor repacked.
    pub layout: Layout,
}

impl TensorInfo {
    /// Total number of values.
    pub fn n_elements(&self) -> u64 {
        self.dims.iter().product()
    }

    /// Size of the tensor's data in bytes (validated at open time not to overflow).
    pub fn n_bytes(&self) -> u64 {
        self.dtype.bytes_for(self.n_elements()).unwrap_or(0)
    }

    /// Row length (`dims[0]`).
    pub fn cols(&self) -> u64 {
        self.dims.first().copied().unwrap_or(1)
    }

    /// Number of rows: the product of every dimension after the first.
    pub fn rows(&self) -> u64 {
        self.dims.iter().skip(1).product()
    }
}

/// The bytes behind a file: a read-only mapping (of the file, or of the anonymous
/// memory it was read into), or an owned buffer for tests.
enum Storage {
    Mapped(memmap2::Mmap),
    Owned(Vec<u8>),
}

impl Storage {
    fn bytes(&self) -> &[u8] {
        match self {
            Storage::Mapped(m) => m,
            Storage::Owned(v) => v,
        }
    }
}

/// A parsed GGUF file. Tensor data stays where the file was opened into (a
/// mapping of the file, or memory the file was read into); nothing is decoded.
pub struct GgufFile {
    storage: Storage,
    version: u32,
    metadata: Vec<(String, Value)>,
    tensors: Vec<TensorInfo>,
    by_name: HashMap<String, usize>,
    alignment: u64,
    data_start: u64,
}

impl std::fmt::Debug for GgufFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GgufFile")
            .field("version", &self.version)
            .field("metadata", &self.metadata.len())
            .field("tensors", &self.tensors.len())
            .field("bytes", &self.storage.bytes().len())
            .finish()
    }
}

impl GgufFile {
    /// Maps the file read-only and parses its header.
    pub fn open(path: impl AsRef<Path>) -> Result<GgufFile, GgufError> {
        let file = std::fs::File::open(path.as_ref())?;
        // SAFETY: the mapping is read-only. As with any mmap, another process
        // truncating the file while it is mapped would fault; model files are not
        // modified in place, which is the usual contract for mapped weights.
        let map = unsafe { memmap2::Mmap::map(&file)? };
        Self::parse(Storage::Mapped(map))
    }

    /// Reads the whole file into memory the process owns, on huge pages where the
    /// system allows them, and parses its header: the way to open weights that a
    /// model streams on every token.
    ///
    /// Streaming weights from a file mapping reads them through 4 KiB pages of the
    /// page cache, and the CPU's prefetchers stop at every page boundary: on a
    /// two-core machine that read 25 GB/s, where the same bytes in 2 MiB pages
    /// read 53 GB/s. A file larger than half the memory the system has available
    /// (or where that is unknown) is mapped instead, as [`GgufFile::open`] does,
    /// so a model that does not fit still runs from the page cache.
    pub fn open_resident(path: impl AsRef<Path>) -> Result<GgufFile, GgufError> {
        Self::open_resident_with(path, false)
    }

    /// As [`GgufFile::open_resident`], and then, where this CPU runs the 512-bit
    /// kernels, repacks every 2-D Q4_K and Q6_K tensor whose shape allows it into tiles of
    /// sixteen rows (see [`crate::kernels::tiles16`]; the tensor's `layout` says so),
    /// in place: the same bytes in another order, no memory added. A file that is
    /// mapped rather than read stays as it is. `VERIMATH_REPACK=0` keeps every
    /// tensor in the file's layout (for comparisons).
    pub fn open_for_kernels(path: impl AsRef<Path>) -> Result<GgufFile, GgufError> {
        let allowed = std::env::var("VERIMATH_REPACK").map_or(true, |v| v != "0");
        Self::open_resident_with(path, allowed && Isa::detect() == Isa::Avx512Vnni)
    }

    fn open_resident_with(path: impl AsRef<Path>, repack: bool) -> Result<GgufFile, GgufError> {
        let mut file = std::fs::File::open(path.as_ref())?;
        let len = file.metadata()?.len();
        let fits = available_memory().is_some_and(|avail| len <= avail / 2);
        let Ok(len) = usize::try_from(len) else {
            return Self::open(path);
        };
        if !fits || len == 0 {
            return Self::open(path);
        }
        let mut mem = memmap2::MmapMut::map_anon(len)?;
        // Advice only: without transparent huge pages the copy still works.
        #[cfg(target_os = "linux")]
        let _ = mem.advise(memmap2::Advice::HugePage);
        std::io::Read::read_exact(&mut file, &mut mem[..])?;
        let mut header = Header::parse(&mem[..])?;
        if repack {
            repack_tiles(&mut mem, &mut header.tensors);
        }
        Ok(Self::with_header(
            Storage::Mapped(mem.make_read_only()?),
            header,
        ))
    }

    /// Parses a GGUF image held in memory.
    pub fn from_bytes(bytes: Vec<u8>) -> Result<GgufFile, GgufError> {
        Self::parse(Storage::Owned(bytes))
    }

    fn parse(storage: Storage) -> Result<GgufFile, GgufError> {
        let header = Header::parse(storage.bytes())?;
        Ok(Self::with_header(storage, header))
    }

    fn with_header(storage: Storage, header: Header) -> GgufFile {
        let by_name = header.by_name;
        GgufFile {
            storage,
            version: header.version,
            metadata: header.metadata,
            tensors: header.tensors,
            by_name,
            alignment: header.alignment,
            data_start: header.data_start,
        }
    }

    /// The GGUF format version (2 or 3).
    pub fn version(&self) -> u32 {
        self.version
    }

    /// All metadata in file order.
    pub fn metadata(&self) -> &[(String, Value)] {
        &self.metadata
    }

    /// The value stored under `key` (a linear scan: headers hold a few dozen keys).
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.metadata.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// The string under `key`, if it is a string.
    pub fn get_str(&self, key: &str) -> Option<&str> {
        self.get(key)?.as_str()
    }

    /// Any integer type whose value is non-negative.
    pub fn get_u64(&self, key: &str) -> Option<u64> {
        self.get(key)?.as_u64()
    }

    /// Floats and integers, converted to `f32`.
    pub fn get_f32(&self, key: &str) -> Option<f32> {
        self.get(key)?.as_f64().map(|v| v as f32)
    }

    /// The boolean under `key`, if it is a boolean.
    pub fn get_bool(&self, key: &str) -> Option<bool> {
        self.get(key)?.as_bool()
    }

    /// All tensors in file order.
    pub fn tensors(&self) -> &[TensorInfo] {
        &self.tensors
    }

    /// The tensor called `name`.
    pub fn tensor(&self, name: &str) -> Option<&TensorInfo> {
        self.by_name.get(name).map(|&i| &self.tensors[i])
    }

    /// The tensor's bytes inside the mapping. Offsets were validated at open time;
    /// a `TensorInfo` that does not belong to this file yields an empty slice.
    pub fn tensor_data(&self, t: &TensorInfo) -> &[u8] {
        let start = t.offset as usize;
        let end = start.saturating_add(t.n_bytes() as usize);
        self.storage.bytes().get(start..end).unwrap_or(&[])
    }

    /// Alignment of tensor data (`general.alignment`, default 32).
    pub fn alignment(&self) -> u64 {
        self.alignment
    }

    /// Absolute offset where the tensor data section starts.
    pub fn data_start(&self) -> u64 {
        self.data_start
    }

    /// The whole file image.
    pub fn bytes(&self) -> &[u8] {
        self.storage.bytes()
    }
}

/// Everything parsed from the header, before it is attached to its storage.
struct Header {
    version: u32,
    metadata: Vec<(String, Value)>,
    tensors: Vec<TensorInfo>,
    by_name: HashMap<String, usize>,
    alignment: u64,
    data_start: u64,
}

/// Smallest possible encodings, used to reject counts the file cannot hold.
const MIN_KV_SIZE: usize = 8 + 4 + 1; // key length, value type, one-byte value
const MIN_TENSOR_INFO_SIZE: usize = 8 + 4 + 4 + 8; // name length, n_dims, type, offset

impl Header {
    fn parse(buf: &[u8]) -> Result<Header, GgufError> {
        let mut c = Cursor::new(buf);
        let magic = c.take(4, "magic")?;
        if magic != b"GGUF" {
            let mut found = [0u8; 4];
            found.copy_from_slice(magic);
            return Err(GgufError::BadMagic { found });
        }
        let version = c.u32("version")?;
        if version != 2 && version != 3 {
            return Err(GgufError::UnsupportedVersion(version));
        }
        let n_tensors = c.count("tensor count", MIN_TENSOR_INFO_SIZE)?;
        let n_kv = c.count("metadata count", MIN_KV_SIZE)?;

        let mut metadata: Vec<(String, Value)> = Vec::with_capacity(n_kv);
        let mut keys = std::collections::HashSet::with_capacity(n_kv);
        for _ in 0..n_kv {
            let key = c.str("metadata key")?;
            let ty = c.u32("metadata value type")?;
            let value = c.value(ty, 0)?;
            if !keys.insert(key) {
                return Err(GgufError::DuplicateKey(key.to_owned()));
            }
            metadata.push((key.to_owned(), value));
        }
        let alignment = alignment_of(&metadata)?;

        let mut raw = Vec::with_capacity(n_tensors);
        let mut by_name = HashMap::with_capacity(n_tensors);
        for i in 0..n_tensors {
            let t = RawTensor::parse(&mut c)?;
            if by_name.insert(t.name.clone(), i).is_some() {
                return Err(GgufError::DuplicateTensor(t.name));
            }
            raw.push(t);
        }

        let data_start = (c.pos() as u64).div_ceil(alignment) * alignment;
        let file_len = buf.len() as u64;
        let tensors = raw
            .into_iter()
            .map(|t| t.place(data_start, alignment, file_len))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Header {
            version,
            metadata,
            tensors,
            by_name,
            alignment,
            data_start,
        })
    }
}

fn alignment_of(metadata: &[(String, Value)]) -> Result<u64, GgufError> {
    let Some((_, v)) = metadata.iter().find(|(k, _)| k == "general.alignment") else {
        return Ok(DEFAULT_ALIGNMENT);
    };
    match v {
        Value::U32(a) if a.is_power_of_two() => Ok((*a).into()),
        _ => Err(GgufError::InvalidMetadata {
            key: "general.alignment".into(),
            detail: format!("expected a power-of-two u32, found {v:?}"),
        }),
    }
}

/// A tensor info as stored: offset still relative to the data section.
struct RawTensor {
    name: String,
    dims: Vec<u64>,
    ty: u32,
    rel_offset: u64,
    at: u64,
}

impl RawTensor {
    fn parse(c: &mut Cursor<'_>) -> Result<RawTensor, GgufError> {
        let at = c.pos() as u64;
        let name = c.str("tensor name")?.to_owned();
        let nd_at = c.pos() as u64;
        let n_dims = c.u32("tensor dimension count")?;
        if n_dims as usize > MAX_DIMS {
            return Err(GgufError::Implausible {
                what: "tensor dimension count",
                value: n_dims.into(),
                offset: nd_at,
            });
        }
        let mut dims = Vec::with_capacity(n_dims as usize);
        for _ in 0..n_dims {
            dims.push(c.u64("tensor dimension")?);
        }
        let ty = c.u32("tensor type")?;
        let rel_offset = c.u64("tensor offset")?;
        Ok(RawTensor {
            name,
            dims,
            ty,
            rel_offset,
            at,
        })
    }

    /// Resolves the type and absolute offset and checks the bytes lie in the file.
    fn place(
        self,
        data_start: u64,
        alignment: u64,
        file_len: u64,
    ) -> Result<TensorInfo, GgufError> {
        let dtype = GgmlType::from_id(self.ty).ok_or_else(|| GgufError::UnknownTensorType {
            name: self.name.clone(),
            ty: self.ty,
        })?;
        let n = self
            .dims
            .iter()
            .try_fold(1u64, |acc, &d| acc.checked_mul(d))
            .ok_or(GgufError::Implausible {
                what: "tensor element count",
                value: u64::MAX,
                offset: self.at,
            })?;
        let row = self.dims.first().copied().unwrap_or(1);
        if !row.is_multiple_of(dtype.block_size() as u64) {
            return Err(GgufError::Misaligned {
                name: self.name,
                detail: format!(
                    "row length {row} is not a multiple of the {dtype} block size {}",
                    dtype.block_size()
                ),
            });
        }
        if !self.rel_offset.is_multiple_of(alignment) {
            return Err(GgufError::Misaligned {
                name: self.name,
                detail: format!(
                    "data offset {} is not a multiple of the alignment {alignment}",
                    self.rel_offset
                ),
            });
        }
        let size = dtype.bytes_for(n);
        let start = data_start.checked_add(self.rel_offset);
        let end = start.zip(size).and_then(|(s, z)| s.checked_add(z));
        match (start, end) {
            (Some(start), Some(end)) if end <= file_len => Ok(TensorInfo {
                name: self.name,
                dims: self.dims,
                dtype,
                offset: start,
                layout: Layout::Rows,
            }),
            _ => Err(GgufError::TensorOutOfBounds {
                name: self.name,
                start: start.unwrap_or(u64::MAX),
                end: end.unwrap_or(u64::MAX),
                file_len,
            }),
        }
    }
}

/// Repacks every 2-D Q4_K and Q6_K tensor of `tensors` whose shape tiles into 16-row tiles,
/// in place in the file image `mem`, and marks its layout. A tensor whose bytes
/// another tensor shares (the format does not forbid it) stays as it is: repacking
/// it would scramble the other one.
fn repack_tiles(mem: &mut [u8], tensors: &mut [TensorInfo]) {
    let span = |t: &TensorInfo| (t.offset, t.offset + t.n_bytes());
    let spans: Vec<(u64, u64)> = tensors.iter().map(span).collect();
    for t in tensors {
        let (start, end) = span(t);
        let shared = spans.iter().filter(|&&(a, b)| a < end && start < b).count() > 1;
        let (rows, cols) = (t.rows() as usize, t.cols() as usize);
        let tileable = t.dims.len() == 2 && tiles16::fits(t.dtype, rows, cols);
        if tileable && !shared {
            tiles16::repack(t.dtype, &mut mem[start as usize..end as usize], rows, cols);
            t.layout = Layout::Tiles16;
        }
    }
}

/// Memory the system could give this process without swapping (`MemAvailable`),
/// in bytes; `None` where that is not known (not Linux).
fn available_memory() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kib.checked_mul(1024)
}

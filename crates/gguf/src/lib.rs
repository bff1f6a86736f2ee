//! Read GGUF model files (memory-mapped): metadata, tensor index and quantized blocks.

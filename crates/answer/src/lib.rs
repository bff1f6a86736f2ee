//! Final-answer extraction and symbolic equivalence checking.

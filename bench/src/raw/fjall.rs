//! Placeholder: filled in once the adapter lands.

//! Many clients at once on the same and different units.

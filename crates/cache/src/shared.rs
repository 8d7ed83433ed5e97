//! The store the instances of a deployment share: Redis, or (built without the `redis` feature)
//! none at all, as a type with no values.

#[cfg(feature = "redis")]
pub(crate) type SharedStore = crate::tier_redis::RedisTier;

#[cfg(not(feature = "redis"))]
pub(crate) type SharedStore = crate::store::NoStore;

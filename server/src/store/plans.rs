//! The Enablement Plan and the WRAP: immutable versions, comments, agreement, crisis activation.

/// Storage for plans.
#[async_trait::async_trait]
pub trait PlanStore {}

macro_rules! impl_plan_store {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl $crate::store::plans::PlanStore for $store {}
    };
}

pub(super) use impl_plan_store;

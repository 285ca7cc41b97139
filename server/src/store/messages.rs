//! Conversations and messages.

/// Storage for peer-support messaging.
#[async_trait::async_trait]
pub trait MessageStore {}

macro_rules! impl_message_store {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl $crate::store::messages::MessageStore for $store {}
    };
}

pub(super) use impl_message_store;

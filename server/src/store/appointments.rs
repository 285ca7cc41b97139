//! Appointments, programmes (workshops), bookings and waitlists.

/// Storage for appointments and workshops.
#[async_trait::async_trait]
pub trait AppointmentStore {}

macro_rules! impl_appointment_store {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl $crate::store::appointments::AppointmentStore for $store {}
    };
}

pub(super) use impl_appointment_store;

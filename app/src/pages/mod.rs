pub mod account;
pub mod check_email;
pub mod home;
pub mod login;
pub mod not_found;
pub mod register;
pub mod verify_email;

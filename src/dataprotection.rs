//! ASP.NET Core Data Protection (work in progress in this change).

//! Proxmox VE API client. Being written in the client issue.

"""Who may do what: principals, their secrets and bearer tokens (``principals``,
``tokens``) and the one authorisation decision every ``Lake`` method asks (``authz``)."""

"""Every table, one module per aggregate. Importing this package registers them all."""

from deskpilot.models.base import Base, utcnow
from deskpilot.models.org import Org, OrgApiKey
from deskpilot.models.partner import Partner, PartnerApiKey
from deskpilot.models.user import DashboardSession, LoginLink, OrgMembership, User

__all__ = [
    "Base",
    "DashboardSession",
    "LoginLink",
    "Org",
    "OrgApiKey",
    "OrgMembership",
    "Partner",
    "PartnerApiKey",
    "User",
    "utcnow",
]

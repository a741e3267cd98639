"""Every table, one module per aggregate. Importing this package registers them all."""

from deskpilot.models.base import Base, utcnow
from deskpilot.models.knowledge import Chunk, CrawlJob, Datasource, KnowledgeChange, Page
from deskpilot.models.org import Org, OrgApiKey
from deskpilot.models.partner import Partner, PartnerApiKey
from deskpilot.models.user import DashboardSession, LoginLink, OrgMembership, User

__all__ = [
    "Base",
    "Chunk",
    "CrawlJob",
    "DashboardSession",
    "Datasource",
    "KnowledgeChange",
    "LoginLink",
    "Org",
    "OrgApiKey",
    "OrgMembership",
    "Page",
    "Partner",
    "PartnerApiKey",
    "User",
    "utcnow",
]

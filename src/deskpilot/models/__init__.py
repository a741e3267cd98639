"""Every table, one module per aggregate. Importing this package registers them all."""

from deskpilot.models.ai_settings import AutopilotSettings, HandoffSettings
from deskpilot.models.base import Base, utcnow
from deskpilot.models.contact import Contact
from deskpilot.models.conversation import (
    ChatEvent,
    ChatSession,
    ChatTicketCounter,
    chat_session_tags,
)
from deskpilot.models.dashboard import ReadMark
from deskpilot.models.knowledge import Chunk, CrawlJob, Datasource, KnowledgeChange, Page
from deskpilot.models.office_hours import OfficeHoursSchedule, OfficeHoursShift
from deskpilot.models.org import Org, OrgApiKey
from deskpilot.models.partner import Partner, PartnerApiKey
from deskpilot.models.tag import Tag
from deskpilot.models.training import TrainingDirectory, TrainingItem, TrainingVersion
from deskpilot.models.user import (
    DashboardSession,
    LoginLink,
    OrgMembership,
    PartnerConsoleLink,
    PartnerConsoleSession,
    User,
)
from deskpilot.models.webhook import WebhookDelivery, WebhookEndpoint, WebhookEvent
from deskpilot.models.widget import (
    WidgetContactSettings,
    WidgetCsat,
    WidgetMessage,
    WidgetSession,
    WidgetSettings,
    WidgetUpload,
    WidgetVote,
)

__all__ = [
    "AutopilotSettings",
    "Base",
    "ChatEvent",
    "ChatSession",
    "ChatTicketCounter",
    "Chunk",
    "Contact",
    "CrawlJob",
    "DashboardSession",
    "Datasource",
    "HandoffSettings",
    "KnowledgeChange",
    "LoginLink",
    "OfficeHoursSchedule",
    "OfficeHoursShift",
    "Org",
    "OrgApiKey",
    "OrgMembership",
    "Page",
    "Partner",
    "PartnerApiKey",
    "PartnerConsoleLink",
    "PartnerConsoleSession",
    "ReadMark",
    "Tag",
    "TrainingDirectory",
    "TrainingItem",
    "TrainingVersion",
    "User",
    "WebhookDelivery",
    "WebhookEndpoint",
    "WebhookEvent",
    "WidgetContactSettings",
    "WidgetCsat",
    "WidgetMessage",
    "WidgetSession",
    "WidgetSettings",
    "WidgetUpload",
    "WidgetVote",
    "chat_session_tags",
    "utcnow",
]

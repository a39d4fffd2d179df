"""samlet_overblik: one cross-sector view of a citizen's interventions, within consent."""

__version__ = "0.1.0"

DEPARTMENTS = ("boern_familie", "beskaeftigelse", "social_voksen", "sundhed_aeldre")
CATEGORIES = ("indsatser", "ydelser", "helbred", "misbrug", "kontakt")
SOURCES = ("boern_familie", "beskaeftigelse", "social_voksen", "sundhed_aeldre", "samtykke", "cpr")

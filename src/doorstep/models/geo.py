from sqlalchemy import Float, String
from sqlalchemy.orm import Mapped, mapped_column

from doorstep.models.base import Base


class PostcodeUnit(Base):
    """Unit-postcode coordinates imported with ``doorstep geo import`` (ONS NSPL/ONSPD)."""

    __tablename__ = "postcode_units"

    postcode: Mapped[str] = mapped_column(String(8), primary_key=True)
    latitude: Mapped[float] = mapped_column(Float)
    longitude: Mapped[float] = mapped_column(Float)

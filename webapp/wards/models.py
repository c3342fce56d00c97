"""London's boroughs and wards (ONS codes), with outlines and neighbours."""
from __future__ import annotations

from sqlalchemy import Float, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.extensions import db


class Borough(db.Model):
    """A London local authority (``E09…``): the 32 boroughs and the City of London."""

    __tablename__ = "boroughs"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(9), unique=True)
    name: Mapped[str] = mapped_column(String(80))

    wards: Mapped[list["Ward"]] = relationship(back_populates="borough", order_by="Ward.name")


class Ward(db.Model):
    """An electoral ward (``E05…``). The outline is kept as GeoJSON; the SVG path is
    computed once at load so pages never do geometry."""

    __tablename__ = "wards"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(9), unique=True)
    name: Mapped[str] = mapped_column(String(120), index=True)
    borough_id: Mapped[int] = mapped_column(ForeignKey("boroughs.id"), index=True)
    # GeoJSON geometry (WGS84); deferred: only the location search reads it, by column.
    geometry: Mapped[str] = mapped_column(Text, deferred=True)
    # Deferred: only the ward home draws the outline (it asks for it, undefer); every other
    # page that names a ward (navigation, lists) no longer carries kilobytes of path.
    svg_path: Mapped[str] = mapped_column(Text, deferred=True)
    svg_viewbox: Mapped[str] = mapped_column(String(64))

    # Joined: a ward is always shown with its borough ("St James's, Westminster").
    borough: Mapped[Borough] = relationship(back_populates="wards", lazy="joined")
    neighbours: Mapped[list["Ward"]] = relationship(
        secondary="ward_neighbours",
        primaryjoin="Ward.id == WardNeighbour.ward_id",
        secondaryjoin="Ward.id == WardNeighbour.neighbour_id",
        order_by="Ward.name", viewonly=True)

    @property
    def label(self) -> str:
        return f"{self.name}, {self.borough.name}"


class WardNeighbour(db.Model):
    """Two wards that share a boundary (stored both ways)."""

    __tablename__ = "ward_neighbours"

    ward_id: Mapped[int] = mapped_column(ForeignKey("wards.id", ondelete="CASCADE"),
                                         primary_key=True)
    neighbour_id: Mapped[int] = mapped_column(ForeignKey("wards.id", ondelete="CASCADE"),
                                              primary_key=True)


class Team(db.Model):
    """A Safer Neighbourhood Team. It covers wards; officers belong to it."""

    __tablename__ = "teams"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)

    wards: Mapped[list[Ward]] = relationship(secondary="team_wards", order_by="Ward.name")
    members: Mapped[list["User"]] = relationship(  # noqa: F821
        secondary="team_members", order_by="User.display_name", back_populates="teams")


class TeamWard(db.Model):
    __tablename__ = "team_wards"

    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"),
                                         primary_key=True)
    ward_id: Mapped[int] = mapped_column(ForeignKey("wards.id", ondelete="CASCADE"),
                                         primary_key=True, index=True)


class TeamMember(db.Model):
    __tablename__ = "team_members"

    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"),
                                         primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"),
                                         primary_key=True, index=True)


class Postcode(db.Model):
    """A London postcode from the ONS Postcode Directory (``flask postcodes load``): its ward
    (mapped to the loaded wards' vintage) and its centroid, when ONS gives one."""

    __tablename__ = "postcodes"

    postcode: Mapped[str] = mapped_column(String(8), primary_key=True)  # "SW1A 2AA"
    outward: Mapped[str] = mapped_column(String(4), index=True)  # "SW1A"
    ward_id: Mapped[int] = mapped_column(ForeignKey("wards.id", ondelete="CASCADE"), index=True)
    lat: Mapped[float | None] = mapped_column(Float)
    lon: Mapped[float | None] = mapped_column(Float)

    ward: Mapped[Ward] = relationship()

"""The instant valuation page an agency hosts on Doorstep or embeds in its own website."""

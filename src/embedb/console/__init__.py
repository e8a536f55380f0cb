"""The web console's static files (HTML, JavaScript, CSS), served by ``embedb serve`` at ``/ui``."""

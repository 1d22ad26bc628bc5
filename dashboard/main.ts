document.title = "Dockify";

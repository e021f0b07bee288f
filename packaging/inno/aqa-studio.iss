; Inno Setup 6 script: installs the PyInstaller onedir folder of AQA Studio on Windows.
; Made by `python packaging\build.py` on Windows when iscc is on PATH, or by hand:
;   iscc /DAppVersion=0.1.0 /DSourceDir=C:\src\aqa-studio\dist\aqa-studio /OC:\src\aqa-studio\dist packaging\inno\aqa-studio.iss
; Not built or run on the Linux machine the project is developed on (see packaging/README.md).

#ifndef AppVersion
  #define AppVersion "0.1.0"
#endif
#ifndef SourceDir
  #define SourceDir "..\..\dist\aqa-studio"
#endif

[Setup]
AppId={{9A4CD2A9-E1F5-4EEC-8871-6CBB3B1F0A63}
AppName=AQA Studio
AppVersion={#AppVersion}
AppPublisher=AQA Studio
DefaultDirName={autopf}\AQA Studio
DefaultGroupName=AQA Studio
DisableProgramGroupPage=yes
; Per-user install without admin rights unless the user picks "all users".
PrivilegesRequired=lowest
PrivilegesRequiredOverridesAllowed=dialog
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
OutputBaseFilename=aqa-studio-{#AppVersion}-setup
Compression=lzma2/ultra64
SolidCompression=yes
; A CUDA build is larger than the 2 GB a single setup file holds: it is split into setup-*.bin.
DiskSpanning=yes
DiskSliceSize=max
WizardStyle=modern
UninstallDisplayIcon={app}\aqa-studio.exe
UninstallDisplayName=AQA Studio {#AppVersion}

[Tasks]
Name: "desktopicon"; Description: "{cm:CreateDesktopIcon}"; GroupDescription: "{cm:AdditionalIcons}"; Flags: unchecked

[Files]
Source: "{#SourceDir}\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs

[Icons]
Name: "{group}\AQA Studio"; Filename: "{app}\aqa-studio.exe"
Name: "{group}\AQA Studio self-test"; Filename: "{app}\aqa-studio.exe"; Parameters: "--selftest"
Name: "{autodesktop}\AQA Studio"; Filename: "{app}\aqa-studio.exe"; Tasks: desktopicon

[Run]
Filename: "{app}\aqa-studio.exe"; Description: "{cm:LaunchProgram,AQA Studio}"; Flags: nowait postinstall skipifsilent

; Uninstalling removes {app} only: the data directory (%LOCALAPPDATA%\aqa-studio) with the
; clinic's database is kept.
